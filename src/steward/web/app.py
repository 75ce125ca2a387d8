"""Mounting the pages, the static assets and the page-friendly error handlers into the app."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from steward.web.errors import install_page_errors
from steward.web.pages import (
    approvals,
    audit,
    evaluations,
    intake,
    monitoring,
    portfolio,
    register,
    signin,
    tool,
    tool_assessment,
    tool_forms,
)
from steward.workbench.worker import RunWorker


def install_web(app: FastAPI) -> None:
    """Add the web pages to ``app`` (after the API's problem handlers are installed)."""
    static = str(resources.files("steward.web") / "static")
    app.mount("/static", StaticFiles(directory=static), name="static")
    settings = app.state.settings
    app.state.run_worker = RunWorker(app.state.sessions, settings.home)
    app.state.background.append(app.state.run_worker)
    pages = (signin, portfolio, register, audit, intake, evaluations, monitoring)
    for module in (*pages, tool, tool_forms, tool_assessment, approvals):
        app.include_router(module.router)
    install_page_errors(app)
