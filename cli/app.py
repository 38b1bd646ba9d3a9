"""The `aftersales` command: dev (everything in one), worker, dispatcher, api, migrate, apikey, triage-rules,
temporal, cases, demo, report, tmc. Each group lives in its own module; this one assembles them."""

from __future__ import annotations

import typer

from cli import cases, keys, report, serve, tmc

app = typer.Typer(help="Aftersales: after-sales cases as durable Temporal workflows.", no_args_is_help=True)
for command in (serve.dev, serve.worker, serve.dispatcher, serve.api, serve.migrate):
    app.command()(command)
app.add_typer(keys.apikey_cli, name="apikey")
app.add_typer(keys.triage_cli, name="triage-rules")
app.add_typer(cases.temporal_cli, name="temporal")
app.add_typer(cases.cases_cli, name="cases")
app.command()(cases.demo)
app.command()(report.report)
app.command()(tmc.tmc)
app.command("rekey-phones")(keys.rekey_phones)


def main() -> None:
    """The `aftersales` console script. It skips the interpreter's teardown once the command is
    done: the Temporal SDK's native threads can abort a process that is finalizing
    (temporalio/sdk-python#300), turning a clean exit, or a one-line error, into SIGABRT."""
    import logging
    import os
    import sys

    from pydantic import ValidationError

    try:
        app()
        code = 0
    except ValidationError as error:  # a bad setting: say which, in a line each, not as a traceback
        for problem in error.errors(include_input=False):
            where = ".".join(str(part) for part in problem["loc"])
            print(f"error: invalid setting{' ' + where.upper() if where else ''}: {problem['msg']}", file=sys.stderr)
        code = 1
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, (int, type(None))):
            print(done.code, file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
