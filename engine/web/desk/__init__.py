"""The recruiter's desk: the web pages of ``nurture serve`` (sign-in, campaigns, people,
replies, tasks, outbox, sequences), server-rendered with Jinja2, every asset served from
the package (no CDN).

    accounts   recruiters' accounts and sessions (Argon2id hashes, hashed session tokens)
    guard      the session cookie, the CSRF check, the sign-in redirect, the templates
    pages      the GET routes (what a recruiter looks at)
    charts     sends and replies per day, drawn as inline SVG
    throttle   failed sign-ins per account and per client address (429 beyond a limit)
    actions    the POST routes (what a recruiter clicks), each through the engine's own rule
    previews   a step rendered for a chosen talent, for the Sequence page
    routes     the router ``create_app`` includes
"""

__all__ = [
    "accounts",
    "actions",
    "charts",
    "guard",
    "pages",
    "previews",
    "routes",
    "throttle",
]
