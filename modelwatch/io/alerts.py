"""Alerts: webhook (JSON POST), e-mail (SMTP) and Apprise (Slack, Teams, PagerDuty, ...).

Secrets (webhook URLs, SMTP credentials) are read from the environment by the
name the spec gives, never from the spec itself. An alert carries names and
numbers only (no PII, no row values). Delivery failures raise
:class:`AlertError`; ``transient`` tells a retry policy whether trying again can
help (connection refused, timeout, HTTP 5xx/429).
"""

from __future__ import annotations

import json
import os
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any

from modelwatch.errors import AlertError
from modelwatch.spec import AppriseChannel, SmtpChannel, WebhookChannel

Channel = WebhookChannel | SmtpChannel | AppriseChannel


@dataclass(frozen=True)
class Alert:
    """What happened to a model, for people."""

    model: str
    event: str
    title: str
    text: str
    details: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"source": "modelwatch", **asdict(self)}


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    error: str = ""


def _secret(name: str, *, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise AlertError(f"{what}: environment variable {name!r} is not set", transient=False)
    return value


def _jsonable(value: Any) -> Any:
    """numpy scalars as numbers, anything else (datetimes, enums) as text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def send_webhook(channel: WebhookChannel, alert: Alert) -> None:
    """POST the alert as JSON; 2xx is success."""
    import httpx

    url = _secret(channel.url_env, what="webhook channel")
    try:
        response = httpx.post(
            url,
            content=json.dumps(alert.payload(), default=_jsonable).encode(),
            headers={"Content-Type": "application/json"},
            timeout=channel.timeout_s,
        )
    except httpx.TransportError as exc:
        raise AlertError(f"webhook ${channel.url_env} unreachable: {exc}", transient=True) from exc
    if response.status_code >= 300:
        transient = response.status_code >= 500 or response.status_code == 429
        raise AlertError(
            f"webhook ${channel.url_env} answered HTTP {response.status_code}", transient=transient
        )


def send_email(channel: SmtpChannel, alert: Alert) -> None:
    """Send the alert as a plain-text e-mail."""
    message = EmailMessage()
    message["Subject"] = f"[modelwatch] {alert.title}"
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(_body(alert))
    message.add_attachment(
        json.dumps(alert.payload(), default=_jsonable, indent=2).encode(),
        maintype="application",
        subtype="json",
        filename="alert.json",
    )
    where = f"SMTP {channel.host}:{channel.port}"
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
            if channel.starttls:
                smtp.starttls()
            if channel.username_env:
                password = _secret(channel.password_env or "", what=where)
                smtp.login(_secret(channel.username_env, what=where), password)
            smtp.send_message(message)
    except (TimeoutError, ConnectionError, smtplib.SMTPServerDisconnected) as exc:
        raise AlertError(f"{where} unreachable: {exc}", transient=True) from exc
    except smtplib.SMTPResponseException as exc:
        raise AlertError(
            f"{where} refused the alert: {exc.smtp_code} {exc.smtp_error!r}",
            transient=400 <= exc.smtp_code < 500,
        ) from exc
    except smtplib.SMTPException as exc:
        raise AlertError(f"{where} failed: {exc}", transient=False) from exc


def _body(alert: Alert) -> str:
    lines = [alert.text, ""]
    lines += [f"{key}: {value}" for key, value in alert.details.items()]
    lines += [f"{key}: {value}" for key, value in alert.links.items()]
    return "\n".join(lines)


def send_apprise(channel: AppriseChannel, alert: Alert) -> None:
    """Notify every Apprise URL of the channel (Slack, Teams, PagerDuty, json://, mailto://...).

    Apprise reports only success or failure per notification; a failure is treated
    as transient (the services it talks to are remote), a URL it cannot parse is not.
    """
    import apprise

    where = f"apprise ${channel.urls_env}"
    urls = [u for u in _secret(channel.urls_env, what="apprise channel").replace(",", " ").split()]
    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            raise AlertError(
                f"{where}: Apprise does not understand a URL with scheme {scheme!r}",
                transient=False,
            )
    ok = notifier.notify(title=f"[modelwatch] {alert.title}", body=_body(alert))
    if not ok:
        raise AlertError(f"{where}: at least one notification failed", transient=True)


def _channel_name(channel: Channel) -> str:
    if isinstance(channel, WebhookChannel):
        return f"webhook:{channel.url_env}"
    if isinstance(channel, AppriseChannel):
        return f"apprise:{channel.urls_env}"
    return f"smtp:{channel.host}:{channel.port}"


def dispatch(alert: Alert, channels: Sequence[Channel]) -> list[Delivery]:
    """Send to every channel subscribed to the event; one failure does not stop the others."""
    results = []
    for channel in channels:
        if alert.event not in channel.events:
            continue
        name = _channel_name(channel)
        try:
            if isinstance(channel, WebhookChannel):
                send_webhook(channel, alert)
            elif isinstance(channel, AppriseChannel):
                send_apprise(channel, alert)
            else:
                send_email(channel, alert)
        except AlertError as exc:
            results.append(Delivery(name, False, str(exc)))
        else:
            results.append(Delivery(name, True))
    return results
