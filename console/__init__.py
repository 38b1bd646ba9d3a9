"""The people's web console at /console: server-rendered pages (Jinja2, Babel catalogs,
zh-CN first, English second) on the same FastAPI app as the API, every asset served by the app.

`install(app)` (console/app.py) mounts it; routes stay thin and call services/; what a person
may see or do is what services/access.py lets their role do, nothing more."""
