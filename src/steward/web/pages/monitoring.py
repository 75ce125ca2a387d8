"""``/deployments/{id}/monitoring``: the monitoring dashboard of one deployment — each monitor's
series over time with control limits and alarm marks, subgroups as small multiples, and the
alerts raised."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from steward.api.deps import SessionDep, SettingsDep
from steward.db.base import utcnow
from steward.registry.errors import NotFoundError
from steward.registry.models import Deployment, Organisation, Tool, ToolVersion
from steward.surveillance.dashboard import Dashboard, MonitorView, dashboard
from steward.web.deps import ReadToolsPage
from steward.web.monitoring_charts import series_chart, small_multiples
from steward.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class MonitorPanel:
    view: MonitorView
    chart: Markup | None
    chart_label: str
    subgroups: Markup | None
    subgroups_label: str
    alarms: int


@dataclass(frozen=True)
class MonitoringPage:
    tool: Tool
    version: ToolVersion
    site: str
    deployment: Deployment
    data: Dashboard
    panels: tuple[MonitorPanel, ...]


def _panel(index: int, view: MonitorView) -> MonitorPanel:
    chart = label = None
    if view.overall is not None and view.overall.points:
        chart, label = series_chart(f"m{index}", view.overall)
    groups = group_label = None
    if view.subgroups:
        groups, group_label = small_multiples(f"g{index}", view.subgroups)
    alarms = sum(s.alarms for s in ((view.overall,) if view.overall else ()) + view.subgroups)
    return MonitorPanel(view, chart, label or "", groups, group_label or "", alarms)


@router.get("/deployments/{deployment_id}/monitoring")
def monitoring_page(
    request: Request,
    session: SessionDep,
    viewer: ReadToolsPage,
    settings: SettingsDep,
    deployment_id: uuid.UUID,
) -> Response:
    """Charts over time with control limits and alert marks for one deployment."""
    deployment = session.get(Deployment, deployment_id)
    version = session.get(ToolVersion, deployment.version_id) if deployment else None
    tool = session.get(Tool, version.tool_id) if version else None
    if (
        deployment is None
        or version is None
        or tool is None
        or tool.organisation_id not in viewer.scope_ids
    ):
        raise NotFoundError(f"no deployment with id {deployment_id}")
    data = dashboard(session, deployment.id, utcnow().date(), settings.monitor_reference_days)
    page = MonitoringPage(
        tool=tool,
        version=version,
        site=session.get_one(Organisation, deployment.site_id).name,
        deployment=deployment,
        data=data,
        panels=tuple(_panel(i, view) for i, view in enumerate(data.monitors)),
    )
    return render(request, "monitoring.html", page, title=f"Monitoring: {tool.name}")
