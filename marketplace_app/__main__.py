"""`python -m marketplace` is the `marketplace` command."""

from marketplace_app.cli import main

main()
