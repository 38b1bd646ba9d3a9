"""`python -m cli ...` runs the `aftersales` command."""

from cli.app import main

main()
