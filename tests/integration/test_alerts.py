"""Alerts reach real webhook and SMTP receivers on 127.0.0.1; failures are reported, not lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelwatch.errors import AlertError
from modelwatch.io.alerts import Alert, dispatch, send_email, send_webhook
from modelwatch.spec import SmtpChannel, WebhookChannel
from tests.servers import Receivers, alert_receivers, free_port

pytestmark = pytest.mark.integration

ALERT = Alert(
    model="credit",
    event="degraded",
    title="credit degraded",
    text="2 of the last 3 windows bad",
    details={"roc_auc": 0.56},
    links={"report": "file:///r.html"},
)


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receivers]:
    with alert_receivers(tmp_path_factory.mktemp("receivers")) as r:
        yield r


def test_a_webhook_alert_arrives_as_json(
    receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MW_TEST_HOOK", receivers.webhook_url)
    before = len(receivers.webhooks())
    send_webhook(WebhookChannel(type="webhook", url_env="MW_TEST_HOOK"), ALERT)
    received = receivers.webhooks()[before:]
    assert received == [{"source": "modelwatch", **ALERT.payload(), "details": {"roc_auc": 0.56}}]


def test_an_email_alert_arrives(receivers: Receivers) -> None:
    channel = SmtpChannel(
        type="smtp", port=receivers.smtp_port, sender="mw@localhost", to=("oncall@localhost",)
    )
    before = len(receivers.mails())
    send_email(channel, ALERT)
    (mail,) = receivers.mails()[before:]
    assert mail["Subject"] == "[modelwatch] credit degraded"
    assert mail["To"] == "oncall@localhost"
    assert "roc_auc: 0.56" in mail.get_body(preferencelist=("plain",)).get_content()


def test_failures_are_reported_per_channel_and_classified(
    receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MW_FAILING_HOOK", receivers.webhook_url + "/fail")
    monkeypatch.delenv("MW_UNSET_HOOK", raising=False)
    channels = [
        WebhookChannel(type="webhook", url_env="MW_FAILING_HOOK"),
        WebhookChannel(type="webhook", url_env="MW_UNSET_HOOK"),
        SmtpChannel(type="smtp", port=free_port(), sender="a@b", to=("c@d",), timeout_s=3),
        SmtpChannel(type="smtp", port=receivers.smtp_port, sender="a@b", to=("c@d",)),
        WebhookChannel(type="webhook", url_env="MW_FAILING_HOOK", events=("promoted",)),
    ]
    results = dispatch(ALERT, channels)
    assert [r.ok for r in results] == [False, False, False, True]  # the last one is not subscribed
    assert "answered HTTP 503" in results[0].error
    assert "'MW_UNSET_HOOK' is not set" in results[1].error
    assert "unreachable" in results[2].error
    with pytest.raises(AlertError) as info:
        send_webhook(channels[0], ALERT)
    assert info.value.transient


def test_receivers_stop_by_process_group(tmp_path: Path) -> None:
    with alert_receivers(tmp_path) as r:
        url = r.webhook_url
    import httpx

    with pytest.raises(httpx.TransportError):
        httpx.post(url, json={}, timeout=2)
