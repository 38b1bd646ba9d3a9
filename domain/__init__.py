"""Pure after-sales domain: models, rules and maths shared by API, workflows and activities.

Nothing here does I/O, reads the clock or reads configuration, so the
workflow sandbox can pass these modules through unchanged.
"""
