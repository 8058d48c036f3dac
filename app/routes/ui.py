"""HTML pages (Jinja2 + HTMX)."""

from fastapi import APIRouter

router = APIRouter()
