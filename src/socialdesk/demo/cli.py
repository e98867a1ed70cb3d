"""``socialdesk demo``: load the demo organization, once."""

from __future__ import annotations

import click

from socialdesk.config import get_settings


@click.command("demo")
@click.option(
    "--reset",
    is_flag=True,
    help="Clear the demo organization's conversations, contacts, accounts and teams and load "
    "them again; members get new passwords (they and the audit trail are kept).",
)
def demo(reset: bool) -> None:
    """Load a demo organization, Kestrel Valley Transit: members in four teams, brand accounts
    on the website chat, X, Mastodon, Bluesky and email, its code of conduct, and a few dozen
    conversations from the last days. Creates or migrates the database first. Running it again
    changes nothing."""
    from socialdesk.db.migrate import upgrade
    from socialdesk.db.session import get_engine
    from socialdesk.demo import loader
    from socialdesk.jobs import catalog  # noqa: F401 - registers jobs and listeners, as serve does

    upgrade(get_engine())
    try:
        loaded = loader.load(reset=reset)
    except loader.DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    if not loaded.created:
        click.echo(
            f"The demo organization {loaded.organization_name!r} is already loaded "
            f"({loaded.conversations} conversations); nothing changed.\n"
            "Its passwords were shown when it was loaded; `socialdesk demo --reset` loads it "
            "again with new ones."
        )
        if loaded.outdated:
            click.echo(
                "It was loaded by an earlier version of the demo, without teams' hours, "
                "routing, SLAs, requests, promises and follow-ups: `socialdesk demo --reset` "
                "loads the current one."
            )
        return
    click.echo(
        f"\n  Loaded the demo organization {loaded.organization_name!r}: "
        f"{loaded.conversations} conversations on {', '.join(loaded.channels)}.\n"
        f"  Log in at {get_settings().base_url.rstrip('/')}/login as any of these members\n"
        "  (passwords are generated and shown only now):\n"
    )
    width = max(len(login.email) for login in loaded.logins)
    for login in loaded.logins:
        line = f"    {login.email:<{width}}  {login.password}  {login.role:<6}  {login.team or ''}"
        click.echo(line.rstrip())
    click.echo("\n  Then start the desk with `socialdesk serve` (`make demo` does both).\n")
