"""The public catalogue for phones (OPAC): search and a page per title with its availability."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from central.context import get_read_db
from db.models import Title
from kiosk.search.query import MAX_QUERY_CHARS, search_titles, title_by_id

bp = Blueprint("opac", __name__, url_prefix="/opac")

# Results on one page: a phone shows a few at a time; a broad query wants another word.
RESULTS_PER_PAGE = 30


@bp.get("")
def search() -> str:
    query = request.args.get("q", "")[:MAX_QUERY_CHARS].strip()
    hits = search_titles(get_read_db(), query, limit=RESULTS_PER_PAGE + 1) if query else []
    return render_template(
        "opac/search.html",
        query=query,
        hits=hits[:RESULTS_PER_PAGE],
        more=len(hits) > RESULTS_PER_PAGE,
    )


@bp.get("/titles/<int:title_id>")
def title(title_id: int) -> str:
    db = get_read_db()
    row = db.get(Title, title_id)
    hit = title_by_id(db, title_id)
    if row is None or hit is None:
        abort(404)
    return render_template(
        "opac/title.html", title=row, hit=hit, query=request.args.get("q", "")[:MAX_QUERY_CHARS]
    )
