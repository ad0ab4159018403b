"""The composition root: the `marketplace` command and the WSGI entry point.

The only package that knows every other: it wires the listing core (`marketplace`), the site
generator (`sitegen`), the search engine (`search`) and the consent backend (`consent_app`),
loading each command's dependencies only when that command runs (so `marketplace validate`,
which every partner's pull request runs, never imports Flask, SQLAlchemy, MkDocs or whoosh).
"""
