"""Real channels need a public URL: SendGrid mails carry unsubscribe links and Twilio posts
delivery statuses back to the webhook app, so without NURTURE_PUBLIC_URL nothing is sent
(the whole tick is refused); the file channel of a development workspace needs none."""

from __future__ import annotations

import pytest
from journey import Workspace
from processes import free_port

NOW = "2026-03-02T09:30:00+00:00"
CAMPAIGN = "backend-engineers-q1"


def _dead_provider() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


SENDGRID = {"SENDGRID_API_KEY": "SG.test"}
TWILIO = {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "token"}
SENDGRID_CHOSEN = {"NURTURE_EMAIL_CHANNEL": "sendgrid", "SENDGRID_API_KEY": "SG.test"}


@pytest.mark.parametrize(("provider", "prefect"), [
    (SENDGRID, "--prefect"), (SENDGRID, "--no-prefect"), (TWILIO, "--no-prefect"),
    (SENDGRID_CHOSEN, "--no-prefect"),
], ids=["sendgrid-key", "sendgrid-key-no-prefect", "twilio", "sendgrid-chosen"])  # fmt: skip
def test_real_channels_without_a_public_url_send_nothing(
    ws: Workspace, provider: dict[str, str], prefect: str
) -> None:
    ws.nurture("talents", "import", "talents.csv")
    env = {**provider, "NURTURE_SENDGRID_BASE_URL": _dead_provider(),
           "NURTURE_TWILIO_BASE_URL": _dead_provider()}  # fmt: skip
    ran = ws.nurture("run", CAMPAIGN, "--now", NOW, prefect, check=False, env=env)
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err, ran
    [line] = ran.err.strip().splitlines()
    assert "NURTURE_PUBLIC_URL" in line and "nothing was sent" in line
    listed = ws.nurture("outbox", "list").out
    assert "sent" not in listed and "in_doubt" not in listed and "planned" not in listed
    assert not (ws.root / "outbox").exists()


def test_with_a_public_url_the_refusal_is_lifted(ws: Workspace) -> None:
    """The provider is down here: the tick runs and the send fails as a delivery problem."""
    ws.nurture("talents", "import", "talents.csv")
    env = {**SENDGRID, "NURTURE_SENDGRID_BASE_URL": _dead_provider(),
           "NURTURE_PUBLIC_URL": "https://nurture.acme.example"}  # fmt: skip
    ran = ws.nurture("run", CAMPAIGN, "--now", NOW, "--no-prefect", check=False, env=env)
    assert ran.code == 0, ran
    assert "sent 0," in ran.out and "retried 0," not in ran.out, ran  # it tried
    assert "unreachable" in ws.nurture("outbox", "list").out


def test_the_file_channel_needs_no_public_url(ws: Workspace) -> None:
    ws.nurture("talents", "import", "talents.csv")
    ran = ws.nurture("run", CAMPAIGN, "--now", NOW, "--no-prefect")
    assert "sent 0," not in ran.out, ran
    assert list((ws.root / "outbox").glob("*.eml"))
