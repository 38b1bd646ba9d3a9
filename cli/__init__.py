"""The `aftersales` command line: the Typer app, the dev runner and the demo."""
