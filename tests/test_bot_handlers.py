"""The shared handler layer (what prefix, slash and console all go through), with the real
model and a real SQLite file: rules, concurrency, model swaps, rendering limits."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.core.dispatch import (
    CONSOLE,
    PREFIX,
    SLASH,
    CommandSpec,
    Registry,
    RequestContext,
    Services,
)
from bot.core.ratelimit import Cooldowns
from bot.core.replies import Kind, Line, Reply, render_text
from bot.core.serving import ModelHolder
from bot.core.settings import Settings
from bot.core.text import md
from bot.features.feedback.targets import Votes
from bot.features.recommend.tables import Query
from bot.frontends.embed import DESCRIPTION_MAX, to_embed


@pytest.fixture(scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory, recommender, database_url: str):
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("handlers"),
        database_url=database_url,
        model_dir=Path("/nonexistent"),  # the model comes from the holder
        cooldown_rate=2,
        cooldown_seconds=60,
    )
    services = Services(settings, models=ModelHolder(recommender))
    await services.start()
    yield services
    await services.close()


@pytest.fixture(autouse=True)
def fresh_cooldowns(services: Services) -> None:
    services.cooldowns.reset()


def user(uid: int, source: str = PREFIX) -> RequestContext:
    return RequestContext(guild_id=7, channel_id=8, user_id=uid, user_name=f"u{uid}", source=source)


async def stored(services: Services, **where) -> list[Query]:
    async with services.db.session() as session:
        statement = sa.select(Query).filter_by(**where).order_by(Query.id)
        return list((await session.scalars(statement)).all())


async def test_hundred_concurrent_recommends_all_answer_and_are_stored(
    services: Services, recommender
) -> None:
    titles = list(recommender.catalog.tracks["track_name"].iloc[:100])
    replies = await asyncio.gather(
        *(services.handle("recommend", user(1000 + i), t) for i, t in enumerate(titles))
    )
    assert not any(r.title == "Sorry, something went wrong" for r in replies)
    assert sum(r.kind is Kind.OK for r in replies) == 100
    rows = await stored(services, guild_id=7, channel_id=8)
    votes = [r.find(Votes) for r in replies]
    ids = {v.targets[0].ref for v in votes}
    assert ids <= {row.id for row in rows} and len(ids) == 100
    by_id = {row.id: row for row in rows}
    for vote in votes:
        assert {t.ref for t in vote.targets} == {vote.targets[0].ref}
        picks = [t.track_id for t in vote.targets]
        assert by_id[vote.targets[0].ref].recommended_track_ids == picks


async def test_slash_and_prefix_share_one_cooldown_and_the_console_has_none(
    services: Services,
) -> None:
    assert (await services.handle("recommend", user(1, PREFIX), "hello")).kind is Kind.OK
    assert (await services.handle("recommend", user(1, SLASH), "hello")).kind is Kind.OK
    slowed = await services.handle("recommend", user(1, SLASH), "hello")
    assert slowed.title == "Slow down a little"
    assert re.search(r"Try again in (?:[1-9]\d*s|a second)\.", slowed.description)
    for _ in range(5):
        reply = await services.handle("recommend", user(1, CONSOLE), "hello")
        assert reply.kind is Kind.OK


async def test_cooldown_budget_refills_after_the_window() -> None:
    now = [0.0]
    cooldowns = Cooldowns(rate=2, per=10, clock=lambda: now[0])
    assert cooldowns.hit("a") == 0 and cooldowns.hit("a") == 0
    assert cooldowns.hit("a") == pytest.approx(10)
    assert cooldowns.hit("b") == 0
    now[0] = 4.0
    assert cooldowns.hit("a") == pytest.approx(6)
    now[0] = 10.0
    assert cooldowns.hit("a") == 0
    assert Cooldowns(rate=0, per=10).hit("a") == 0, "rate 0 turns it off"


async def test_a_swap_mid_request_never_mixes_models(services: Services, recommender) -> None:
    """A retrain may swap the model while a request is in flight; the request keeps its own."""
    old = services.models.current
    replacement = type(recommender)(
        recommender.catalog, recommender.embeddings[::-1].copy(), {"version": "swapped"}
    )

    async def swapping_handler(svc, ctx, text) -> Reply:
        model = svc.models.current
        svc.models.swap(replacement)
        await asyncio.sleep(0)
        return Reply(title=model.version)

    services.registry.add(CommandSpec("swaptest", swapping_handler, summary="t", hidden=True))
    try:
        reply = await services.handle("swaptest", user(2), "")
        assert reply.title == old.version
        after = await services.handle("recommend", user(3), "bad guy")
        assert after.footer.endswith("model swapped")
        (row,) = await stored(services, user_id=3)
        assert row.model_version == "swapped"
    finally:
        services.models.swap(old)
        services.registry.remove("swaptest")


async def test_before_the_model_is_loaded_people_are_told_to_wait(services: Services) -> None:
    waiting = Services(services.settings)  # same database, no model yet
    reply = await waiting.handle("recommend", user(4), "bad guy")
    assert reply.title == "Warming up" and reply.kind is Kind.INFO
    assert await waiting.handle("help", user(4)) is not None
    await waiting.close()


async def test_admin_only_commands_refuse_others(services: Services) -> None:
    async def secret(svc, ctx, text) -> Reply:
        return Reply(title="done")

    services.registry.add(CommandSpec("secret", secret, summary="admins", admin_only=True))
    try:
        refused = await services.handle("secret", user(5))
        assert refused.title == "Admins only" and refused.kind is Kind.ERROR
        admin = RequestContext(guild_id=7, user_id=6, is_admin=True, source=PREFIX)
        assert (await services.handle("secret", admin)).title == "done"
        helps = await services.handle("help", user(5))
        assert "!secret" not in [f.name for f in helps.fields], "admin commands hidden from others"
        helps = await services.handle("help", admin)
        assert "!secret" in [f.name for f in helps.fields]
    finally:
        services.registry.remove("secret")


def test_registry_refuses_a_name_clash_and_resolves_aliases() -> None:
    async def h(svc, ctx, text) -> Reply:
        return Reply(title="x")

    registry = Registry()
    registry.add(CommandSpec("recommend", h, summary="s", aliases=("rec",)))
    assert registry.get("REC").name == "recommend"
    with pytest.raises(ValueError):
        registry.add(CommandSpec("record", h, summary="s", aliases=("rec",)))
    assert registry.remove("rec").name == "recommend" and registry.get("recommend") is None


async def test_track_names_with_markdown_cannot_break_the_embed(services: Services) -> None:
    reply = Reply(
        title="t",
        description="d",
        lines=[
            Line(text=md("Song [Remix] *live*"), url="https://open.spotify.com/track/x", note="— A")
        ]
        + [Line(text="x" * 300, url="https://open.spotify.com/track/y") for _ in range(30)],
    )
    embed = to_embed(reply)
    assert len(embed.description) <= DESCRIPTION_MAX
    assert embed.description.splitlines()[2] == (
        r"1. [Song \[Remix\] \*live\*](https://open.spotify.com/track/x) — A"
    )
    # Lines are dropped whole: every remaining link is complete.
    kept = embed.description.splitlines()[3:]
    assert 0 < len(kept) < 30
    assert all(line.endswith("(https://open.spotify.com/track/y)") for line in kept)
    assert "1. Song [Remix] *live* — A" in render_text(reply)


async def test_history_lists_at_most_ten_newest_first(services: Services) -> None:
    for n in range(12):
        await services.handle("recommend", user(77, CONSOLE), f"nosuchsong{n}zz")
    reply = await services.handle("history", user(77, CONSOLE))
    asked = re.findall(r"“([^”]+)”", "\n".join(line.text for line in reply.lines))
    assert asked == [f"nosuchsong{n}zz" for n in range(11, 1, -1)]
    assert all("not found" in line.note for line in reply.lines)


async def test_history_names_an_artist_answer_as_the_artist(services: Services) -> None:
    """ "dua lipa" was answered as the artist, "Levitating - Dua Lipa" as songs like her:
    history says so, not as if one of her songs had been asked for."""
    await services.handle("recommend", user(80, CONSOLE), "dua lipa")
    await services.handle("recommend", user(80, CONSOLE), "Levitating - Dua Lipa")
    await services.handle("recommend", user(80, CONSOLE), "bad guy")
    reply = await services.handle("history", user(80, CONSOLE))
    notes = [line.note for line in reply.lines]
    assert notes[2].startswith("→ the artist Dua Lipa ·"), notes
    await services.handle("recommend", user(81, CONSOLE), "dua lipa")
    await services.handle("more", user(81, CONSOLE))
    followed = [line.note for line in (await services.handle("history", user(81, CONSOLE))).lines]
    assert followed[0].startswith("→ the artist Dua Lipa ·"), followed  # `!more` on it
    assert notes[1].startswith("→ songs like Dua Lipa, no Levitating yet ·"), notes
    assert notes[0].startswith("→ bad guy — Billie Eilish ·"), notes


async def test_history_by_bare_id_names_the_member_without_raw_mention(
    services: Services,
) -> None:
    await services.handle("recommend", user(78, CONSOLE), "nosuchsongzz")
    reply = await services.handle("history", user(79), "123456789012345678")
    assert reply.title == "Member 123456789012345678 has no queries here yet"
    assert "<@" not in reply.title
