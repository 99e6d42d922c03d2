"""``nurture demo``: a recruiting campaign over three simulated weeks, through the real parts.

A fresh workspace copied from ``examples/recruiting`` and a fresh SQLite talent base; the
example talents imported; the outbound campaign ticked as Prefect flow runs with a simulated
clock; the file channel writing every message under ``outbox/``; and simulated people who
open, click, reply (each intent the classifier knows, in English, French and German),
bounce, unsubscribe and text STOP, each engagement posted as a *signed* provider webhook
to the real webhook app, in-process.
Nothing is special-cased: the same code paths run in production.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from random import Random
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from channels.sendgrid import event_webhook_public_key, sign_event_webhook
from channels.twilio import sign_request
from engine.config import Config
from engine.core.clock import ManualClock
from engine.enrollments.audience import audience_select
from engine.enrollments.progress import PlanMessages
from engine.enrollments.todos import complete_task
from engine.outbox.adapters import build_channels, close_channels
from engine.runs.runtime import Runtime
from engine.store.database import Database
from engine.store.models import Enrollment, OutboxMessage, Talent, Task
from engine.talents.csv_import import import_talents, read_csv
from engine.web.app import create_app

CAMPAIGN = "backend-engineers-q1"
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday, before anyone's send window
DAYS = 22  # three weeks and the last breakup timeouts
PUBLIC_URL = "https://hooks.nurture.demo"
INBOUND_DOMAIN = "reply.acme.example"

# What simulated people answer, by intent and by language: a talent in France answers in
# French, one in Germany in German, anyone else in English. Each text is classified as its
# intent by the built-in rules alone (the workspace's extra phrases only add to that).
LANGUAGES = ("en", "fr", "de")
REPLIES: dict[str, dict[str, str]] = {
    "interested": {
        "en": "Hi Charlotte, yes, happy to chat! Thursday afternoon works for me.",
        "fr": "Bonjour Charlotte, oui, avec plaisir, je suis partante. Jeudi après-midi ?",
        "de": "Hallo Charlotte, gerne, klingt spannend! Passt es am Donnerstag?",
    },
    "not_interested": {
        "en": "Thanks for reaching out, but I'm not interested at the moment.",
        "fr": "Merci, mais ce n'est pas le bon moment pour moi.",
        "de": "Danke, aber kein Interesse.",
    },
    "question": {
        "en": "What's the salary range, and is the role remote-friendly?",
        "fr": "Quel est le salaire proposé ? Le poste est-il en télétravail ?",
        "de": "Wie hoch ist das Gehalt, und ist Homeoffice möglich?",
    },
    "out_of_office": {
        "en": "I'm out of the office until March 16 with limited access to email.",
        "fr": "Je suis absente jusqu'au 16 mars, avec un accès limité à mes e-mails.",
        "de": "Ich bin bis zum 16. März nicht im Büro.",
    },
    "unsubscribe": {
        "en": "Please remove me from your mailing list.",
        "fr": "Merci de me désinscrire de votre liste.",
        "de": "Bitte tragen Sie mich aus Ihrem Verteiler aus.",
    },
    "other": {
        "en": "I have forwarded your message to a colleague on the data team.",
        "fr": "J'ai transmis votre message à une collègue de l'équipe data.",
        "de": "Ich habe Ihre Nachricht an einen Kollegen im Datenteam weitergeleitet.",
    },
}
# Who does what. Each replying persona (one per intent) is cast first to one talent of each
# language, so every seed shows every intent in English, French and German; the personas
# below then go to talents left, by count; everyone else stays silent (but opens and clicks).
REPLYING = tuple(REPLIES)
PERSONAS = (
    ("interested", 1),  # one more interested reply to the intro, in any language
    ("interested_late", 2),  # answers the threaded follow-up
    ("unsubscribe_link", 1),  # one-click unsubscribe link in the follow-up
    ("bounce", 1),
    ("stop", 1),  # texts STOP to the SMS nudge (a talent with a phone)
)
# Which email a persona answers (intro unless named here), and with what.
FOLLOWUP_ANSWERS = {
    "interested_late": "interested",
    "unsubscribe": "unsubscribe",  # "remove me", in words, to the follow-up
    "unsubscribe_link": "link",
}


def language(country: str | None) -> str:
    """The language a simulated talent replies in: French in France, German in Germany."""
    return {"FR": "fr", "DE": "de"}.get(country or "", "en")


@dataclass(order=True)
class Pending:
    """A simulated engagement, posted to the webhook app at ``at``."""

    at: datetime
    order: int
    action: Callable[[], Any] = field(compare=False)


@dataclass
class DemoResult:
    workspace: Path
    ticks: int = 0
    webhooks: int = 0
    personas: dict[str, str] = field(default_factory=dict)


def demo_config(root: Path, signing_key: ec.EllipticCurvePrivateKey) -> Config:
    """Production settings with the file channel and the demo's own webhook secrets."""
    return Config.load(
        root,
        env={
            "NURTURE_DATABASE_URL": f"sqlite:///{root / 'nurture.db'}",
            "NURTURE_EMAIL_CHANNEL": "file",
            "NURTURE_SMS_CHANNEL": "file",
            "NURTURE_PUBLIC_URL": PUBLIC_URL,
            "NURTURE_SECRET_KEY": secrets.token_urlsafe(24),
            "SENDGRID_WEBHOOK_PUBLIC_KEY": event_webhook_public_key(signing_key),
            "NURTURE_INBOUND_DOMAIN": INBOUND_DOMAIN,
            "NURTURE_INBOUND_SECRET": secrets.token_urlsafe(16),
            "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        },
    )


class Simulation:
    """The clock, the database, the app and the simulated people of one demo run."""

    def __init__(self, root: Path, seed: int) -> None:
        self.rng = Random(seed)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.config = demo_config(root, self.key)
        self.db = Database(self.config.database_url)
        self.clock = ManualClock(START)
        self.rt = Runtime.load(self.config)
        self.channels = build_channels(self.config, self.clock)
        app = create_app(self.config, self.db, self.clock)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)
        self.pending: list[Pending] = []
        self.seen_messages: set[int] = set()
        self.seen_tasks: set[int] = set()
        self.personas: dict[int, str] = {}
        self.result = DemoResult(root)

    async def aclose(self) -> None:
        await self.http.aclose()
        await close_channels(self.channels)
        self.db.dispose()

    # --- setup ---------------------------------------------------------------------------

    def import_talents(self) -> int:
        _, rows = read_csv((self.config.workspace / "talents.csv").read_bytes())
        with self.db.session() as session:
            report = import_talents(session, rows, now=self.clock(), source_name="talents.csv")
            audience = audience_select(self.rt.campaign(CAMPAIGN).audience, self.clock())
            talents = session.execute(
                select(Talent.id, Talent.email, Talent.phone, Talent.country)
                .where(Talent.id.in_(audience))
                .order_by(Talent.email)
            ).all()
        self._cast(list(talents))
        return report.created

    def _cast(self, talents: list[Any]) -> None:
        """Give personas to the campaign's audience, deterministically from the seed."""
        pools = {lang: [t for t in talents if language(t.country) == lang] for lang in LANGUAGES}
        for lang, pool in pools.items():
            if len(pool) < len(REPLYING):
                raise RuntimeError(
                    f"the demo needs {len(REPLYING)} talents replying in {lang!r} "
                    f"in the audience of {CAMPAIGN}, found {len(pool)}"
                )
            self.rng.shuffle(pool)
            for persona in REPLYING:
                self.personas[pool.pop().id] = persona
        rest = [t for pool in pools.values() for t in pool]
        self.rng.shuffle(rest)
        stop = next(t for t in rest if t.phone)
        self.personas[stop.id] = "stop"
        queue = iter(t for t in rest if t is not stop)
        for persona, count in PERSONAS:
            for _ in range(count if persona != "stop" else 0):
                self.personas[next(queue).id] = persona
        self.result.personas = {
            t.email: self.personas.get(t.id, "silent") for t in talents if t.email
        }

    # --- the loop ------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        with self.db.session() as session:
            enrollment = session.scalar(
                select(func.min(Enrollment.due_at)).where(Enrollment.status != "exited")
            )
            message = session.scalar(
                select(func.min(OutboxMessage.due_at)).where(OutboxMessage.status == "planned")
            )
        candidates = [at for at in (enrollment, message) if at is not None]
        return min(candidates) if candidates else None

    async def run(self, tick: Callable[[str, str], Any], progress: Callable[[float], None]) -> None:
        """Tick at each due time (on the quarter hour, like the cron), posting events between."""
        end = START + timedelta(days=DAYS)
        await tick(CAMPAIGN, self.clock().isoformat())
        self.result.ticks += 1
        while self.clock() < end:
            self._observe()
            due = self.next_due()
            due = _quarter(max(due, self.clock() + timedelta(minutes=15))) if due else None
            event = min(self.pending) if self.pending else None
            if event and (due is None or event.at <= due):
                self.pending.remove(event)
                self.clock.now = max(event.at, self.clock())
                await event.action()
                continue
            if due is None or due >= end:
                break
            self.clock.now = due
            await tick(CAMPAIGN, due.isoformat())
            self.result.ticks += 1
            progress((self.clock() - START) / timedelta(days=DAYS))
        progress(1.0)

    def _later(self, at: datetime, action: Callable[[], Any]) -> None:
        self.pending.append(Pending(at, len(self.pending) + self.result.webhooks, action))

    def _observe(self) -> None:
        """Schedule what simulated people do with messages just sent and tasks just created."""
        with self.db.session() as session:
            sent = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "sent")
                .where(OutboxMessage.id.not_in(self.seen_messages or {0}))
                .order_by(OutboxMessage.id)
            ).all()
            tasks = session.scalars(
                select(Task).where(Task.id.not_in(self.seen_tasks or {0})).order_by(Task.id)
            ).all()
        for message in sent:
            self.seen_messages.add(message.id)
            self._react(message)
        for task in tasks:  # the recruiter answers the question the next morning
            self.seen_tasks.add(task.id)
            self._later(task.created_at + timedelta(hours=20), partial(self._done, task.id))

    def _react(self, message: OutboxMessage) -> None:
        persona = self.personas.get(message.talent_id, "silent")
        at = message.sent_at or self.clock()
        minutes = self._minutes
        if message.channel == "sms":
            self._later(at + minutes(1, 2), lambda: self._sms_status(message, "delivered"))
            if persona == "stop":
                self._later(at + minutes(10, 90), lambda: self._sms(message, "STOP"))
            return
        if persona == "bounce":
            self._later(at + minutes(1, 2), lambda: self._sendgrid(message, "bounce"))
            return
        self._later(at + minutes(1, 3), lambda: self._sendgrid(message, "delivered"))
        if persona == "out_of_office" and message.step_id == "intro":
            self._later(at + minutes(2, 5), lambda: self._reply(message, "out_of_office"))
            return
        if self.rng.random() < 0.7 or persona != "silent":
            opened = at + minutes(20, 300)
            self._later(opened, lambda: self._sendgrid(message, "open"))
            if self.rng.random() < 0.3:
                self._later(opened + minutes(1, 5), lambda: self._sendgrid(message, "click"))
        reply = self._answer(persona, message.step_id)
        if reply == "link":
            self._later(at + minutes(30, 240), lambda: self._unsubscribe(message))
        elif reply:
            self._later(at + minutes(60, 600), lambda: self._reply(message, reply))

    def _minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(low, high))

    @staticmethod
    def _answer(persona: str, step: str) -> str | None:
        """What ``persona`` answers to ``step``: a reply's intent, ``"link"`` or nothing."""
        if step == "followup":
            return FOLLOWUP_ANSWERS.get(persona)
        if step == "intro" and persona in REPLYING and persona not in FOLLOWUP_ANSWERS:
            return persona  # out_of_office answers at once, automatically (see _react)
        return None

    # --- the webhooks, signed the providers' way ------------------------------------------

    async def _post(self, path: str, **kwargs: Any) -> None:
        response = await self.http.post(path, **kwargs)
        if response.status_code >= 400:
            message = f"demo webhook {path} answered {response.status_code}: {response.text}"
            raise RuntimeError(message)
        self.result.webhooks += 1

    async def _sendgrid(self, message: OutboxMessage, event: str) -> None:
        now = self.clock()
        payload = {
            "event": event,
            "email": message.to,
            "timestamp": int(now.timestamp()),
            "sg_event_id": f"demo-{self.rng.getrandbits(64):016x}",
            "sg_message_id": f"{message.provider_message_id}.filter0001",
            "message_id": message.message_id,
            "campaign": message.campaign,
            "step_id": message.step_id,
            **({"type": "bounce", "reason": "550 5.1.1 user unknown"} if event == "bounce" else {}),
            **({"url": "https://acme.example/careers/backend"} if event == "click" else {}),
        }
        body = json.dumps([payload]).encode()
        headers = sign_event_webhook(body, self.key, str(int(now.timestamp())))
        await self._post("/webhooks/sendgrid/events", content=body,
                         headers={**headers, "Content-Type": "application/json"})  # fmt: skip

    async def _reply(self, message: OutboxMessage, intent: str) -> None:
        with self.db.session() as session:
            talent = session.get(Talent, message.talent_id)
            lang = language(talent.country) if talent else "en"
            sender = f"{talent.full_name} <{talent.email}>" if talent else message.to
        to = f"reply+{message.message_id}@{INBOUND_DOMAIN}"
        auto = {"Auto-Submitted": "auto-replied"} if intent == "out_of_office" else {}
        headers = {"From": sender, "To": to, "Subject": f"Re: {message.subject}",
                   "Message-ID": f"<demo-{self.rng.getrandbits(64):016x}@mail.example>",
                   "In-Reply-To": message.headers.get("Message-ID", ""), **auto}  # fmt: skip
        quoted = "\n".join(f"> {line}" for line in message.text.splitlines()[:3])
        form = {
            "headers": "".join(f"{k}: {v}\n" for k, v in headers.items()),
            "from": sender,
            "to": to,
            "subject": headers["Subject"],
            "text": f"{REPLIES[intent][lang]}\n\nOn {message.sent_at:%a}, Charlotte wrote:\n"
            + quoted,
            "envelope": json.dumps({"to": [to], "from": message.to}),
            "charsets": json.dumps({"text": "UTF-8"}),
        }
        secret = self.config.inbound_secret.get_secret_value() if self.config.inbound_secret else ""
        await self._post(
            f"/webhooks/sendgrid/inbound/{secret}",
            files={name: (None, value) for name, value in form.items()},
        )

    async def _sms(self, message: OutboxMessage, text: str) -> None:
        params = {"MessageSid": f"SM{self.rng.getrandbits(128):032x}", "AccountSid": "ACdemo",
                  "From": message.to, "To": message.sender, "Body": text,
                  "NumMedia": "0"}  # fmt: skip
        await self._twilio("/webhooks/twilio/messages", params)

    async def _sms_status(self, message: OutboxMessage, status: str) -> None:
        params = {"MessageSid": message.provider_message_id or "", "AccountSid": "ACdemo",
                  "From": message.sender, "To": message.to, "MessageStatus": status}  # fmt: skip
        path = f"/webhooks/twilio/status?message_id={message.message_id}"
        await self._twilio(path, params)

    async def _twilio(self, path: str, params: dict[str, str]) -> None:
        token = self.config.twilio_auth_token
        secret = token.get_secret_value() if token else ""
        signature = sign_request(f"{PUBLIC_URL}{path}", params, secret)
        await self._post(path, data=params, headers={"X-Twilio-Signature": signature})

    async def _unsubscribe(self, message: OutboxMessage) -> None:
        if message.unsubscribe_url:  # RFC 8058 one-click, as a mail client posts it
            path = message.unsubscribe_url.removeprefix(PUBLIC_URL)
            await self._post(path, data={"List-Unsubscribe": "One-Click"})

    async def _done(self, task_id: int) -> None:
        with self.db.session() as session:
            complete_task(session, task_id, now=self.clock(), sends=PlanMessages(self.rt))


def _quarter(at: datetime) -> datetime:
    """``at`` rounded up to the next quarter hour, as the campaign's */15 cron would run."""
    floor = at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=15)
