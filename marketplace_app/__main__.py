"""`python -m marketplace_app` is the `marketplace` command."""

from marketplace_app.cli import main

main()
