"""Serve the built static site at `/` (the same files any static host could serve)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from flask import Blueprint, abort, current_app, redirect, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from consent_app.security import LOGO_HEADERS, policy_for_file

bp = Blueprint("site", __name__)


@bp.get("/", defaults={"path": ""})
@bp.get("/<path:path>")
def static_page(path: str) -> ResponseReturnValue:
    """A file of the built site; folders answer with their index.html, as on a static host."""
    site_dir = current_app.config["SITE_DIR"]
    target = safe_join(site_dir, path)
    if target is None or _hidden(path):
        abort(404)
    try:
        is_folder = Path(target).is_dir()
    except OSError:  # e.g. a name too long for the file system: no such page either
        is_folder = False
    if is_folder:
        if path and not path.endswith("/"):
            query = request.query_string.decode("latin-1")
            return redirect(f"/{path}/" + (f"?{query}" if query else ""), code=301)
        path = f"{path}index.html"
    try:
        response = send_from_directory(site_dir, path)
        status = 200
    except NotFound:
        not_found = not_found_page(Path(site_dir), path)
        if not_found is None:
            raise
        path = not_found
        response, status = send_from_directory(site_dir, path), 404
    if path.endswith(".html"):
        response.headers["Content-Security-Policy"] = policy_for_file(Path(site_dir) / path)
    elif is_logo(path):
        response.headers.update(LOGO_HEADERS)
    return response, status


def _hidden(path: str) -> bool:
    """A name starting with a dot is not part of the site: a build's scratch folders
    (`.build-ru.partial`, the previous partner pages it is sorting) live there while it runs.
    `.well-known` is the exception static hosts make too."""
    return any(part.startswith(".") and part != ".well-known" for part in path.split("/"))


def not_found_page(site_dir: Path, path: str) -> str | None:
    """The "page not found" page in the language of the address (`ru/…`: the Russian site's,
    which MkDocs writes as `ru/404.html`), else the root's; None when the site has none."""
    first = PurePosixPath(path).parts[:1]
    for candidate in (f"{first[0]}/404.html" if first else "404.html", "404.html"):
        found = safe_join(str(site_dir), candidate)  # never outside the site
        try:
            if found is not None and Path(found).is_file():
                return candidate
        except OSError:  # a first segment too long for the file system: the root's page
            continue
    return None


def is_logo(path: str) -> bool:
    """Whether a site file is a partner logo (`logos/…`, in any language) or another SVG."""
    parts = PurePosixPath(path).parts
    return "logos" in parts[:-1] or path.lower().endswith(".svg")
