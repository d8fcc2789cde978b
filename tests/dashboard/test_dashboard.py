"""The dashboard in a real browser, against a real server and real agents."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import annotated_types as at
import numpy as np
import pytest
from playwright.async_api import Locator, Page, Response, WebSocketRoute, expect

import arkitekt
from arkitekt import widgets
from arkitekt.api.enums import AssignationStatus
from arkitekt.structures import Array, File
from arkitekt.testing import RunningPlatform, serving

from .conftest import screenshot, sign_in

BY = " \N{MULTIPLICATION SIGN} "  # between the sides of a shape, as the page writes it


class Channel(Enum):
    DAPI = "dapi"
    GFP = "gfp"


@dataclasses.dataclass
class Region:
    """A rectangle on the image."""

    x: int
    y: int
    width: Annotated[int, at.Gt(0)] = 64


class Stack:
    """Travels by reference, like any structure."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    async def shrink(self) -> str:
        return self.ref

    @classmethod
    async def expand(cls, value: str) -> Stack:
        return cls(value)


received: list[dict[str, Any]] = []


async def acquire(
    frames: Annotated[int, at.Ge(1), at.Le(8)],
    exposure: Annotated[float, at.Gt(0)],
    sample: str,
    notes: str,
    autofocus: bool,
    start: datetime,
    channel: Channel,
    positions: list[int],
    gains: dict[str, float],
    region: Region,
    scale: int | str,
    stack: Stack,
    comment: str | None = None,
    binning: int = 2,
) -> AsyncIterator[tuple[int, str]]:
    """Acquire a time series.

    Args:
        frames: How many frames to take.
        exposure: Milliseconds per frame.
        sample: The slide's name.
        notes: For the lab book.
        autofocus: Focus before each frame.
        start: When to start.
        channel: The fluorescence channel.
        positions: Stage positions.
        gains: Gain per camera.
        region: Where to look.
        scale: A factor, or a named preset.
        stack: The stack to add frames to.
        comment: A remark.
        binning: Pixel binning.
    """
    received.append(dict(locals()))
    arkitekt.log(f"acquiring {frames} frames of {sample}")
    for n in range(frames):
        arkitekt.progress(100 * (n + 1) / frames, f"frame {n + 1} of {frames}")
        yield n, f"{sample}-{channel.name}-{n}.tif"


async def watch_forever(start: int = 0) -> AsyncIterator[int]:
    """Yield once, then wait until cancelled."""
    yield start
    arkitekt.progress(50, "waiting")
    await asyncio.Event().wait()


async def node_id(client: arkitekt.Client, name: str) -> str:
    found = await client.api.nodes(name=name)
    assert found, name
    return found[0].id


async def open_form(
    page: Page, server: RunningPlatform, client: arkitekt.Client, function: str
) -> Locator:
    """Signs in and opens the function's page; returns its form."""
    await sign_in(page, server)
    await page.goto(f"/#/functions/{await node_id(client, function)}")
    return page.get_by_role("form", name=f"Arguments of {function}")


async def run_with_defaults(
    page: Page, server: RunningPlatform, client: arkitekt.Client, function: str
) -> Locator:
    """Signs in, runs `function` from its page with the form as it opens, and returns the
    run's panel."""
    form = await open_form(page, server, client, function)
    await form.get_by_role("button", name="Run").click()
    return page.get_by_role("region", name="Latest run")


async def test_signing_in_keeps_the_token_in_the_session_and_out_of_the_url(
    page: Page, server: RunningPlatform
) -> None:
    await page.goto("/")
    await page.get_by_label("Token").fill("ark_not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not accepted")

    await sign_in(page, server)
    assert server.token not in page.url
    stored = await page.evaluate("sessionStorage.getItem('arkitekt.token')")
    assert stored == server.token
    await page.reload()
    await expect(page.get_by_role("navigation", name="Sections")).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Token")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('arkitekt.token')") is None


async def test_functions_are_searchable_and_show_who_serves_them_live(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    await sign_in(page, server)
    card = page.locator("[data-node=watch_forever]")
    async with serving(client, watch_forever, name="scope-7"):
        await page.get_by_label("Search functions").fill("until cancelled")
        await expect(card).to_contain_text("Yield once, then wait until cancelled.")
        await expect(card).to_contain_text("scope-7")
        await expect(page.locator("[data-node=acquire]")).to_have_count(0)
        live = page.get_by_role("list", name="Functions", exact=True)
        await expect(live.locator("[data-node=watch_forever]")).to_have_count(1)
    # The agent went away: the card says so without a reload, among the offline ones, which
    # unfold when nothing live matches.
    await expect(card).to_contain_text("offline")
    offline = page.get_by_role("list", name="Offline functions")
    await expect(offline.locator("[data-node=watch_forever]")).to_be_visible()
    await page.get_by_label("Search functions").fill("")
    folded = page.locator("details.folded")
    await expect(folded.locator("summary")).to_contain_text("offline: no agent serves")


def expose_v1(ms: int) -> int:
    """Expose the camera for a while."""
    return ms


def expose_v2(ms: int, gain: float = 1.0) -> int:
    """Expose the camera for a while, with a gain."""
    return ms


async def test_older_versions_of_a_function_fold_apart_and_say_so(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    for version in (expose_v1, expose_v2):  # an app whose function changed
        arkitekt.register(name="expose", registry=arkitekt.Registry())(version)
        async with serving(client, version, name="camera"):
            pass
    await sign_in(page, server)
    await page.get_by_label("Search functions").fill("Expose the camera")
    offline = page.get_by_role("list", name="Offline functions")
    await expect(offline.locator("[data-node=expose]")).to_contain_text("with a gain")
    await expect(offline.locator("[data-node=expose]")).to_have_count(1)
    summary = page.locator("details.folded summary").last
    await expect(summary).to_have_text("1 older version: a newer one took its place")
    await summary.click()
    older = page.get_by_role("list", name="Older versions").locator("[data-node=expose]")
    await expect(older).not_to_contain_text("gain")
    await older.click()
    await expect(page.locator(".pill", has_text="older version")).to_be_visible()
    await expect(page.get_by_label("Served by")).to_contain_text("serve a newer one now")


async def stage() -> str:
    """Move the stage of whichever microscope runs it."""
    return "moved"


async def test_a_run_goes_to_the_agent_chosen_among_several(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, stage, name="scope") as first:
        async with serving(client, stage, name="scope") as second:
            form = await open_form(page, server, client, "stage")
            served = page.get_by_label("Served by")
            host = socket.gethostname()
            await expect(served).to_contain_text(f"scope on {host} · {second.id[:10]}")
            choice = form.get_by_label("Run on")
            await expect(choice).to_have_value("")  # any instance, in turn, until one is chosen
            await choice.select_option(value=second.id)
            for done in range(1, 4):
                await form.get_by_role("button", name="Run").click()
                await expect(page.locator(".runs .pill", has_text="done")).to_have_count(done)
        query = '{ assignations(node: "stage", limit: 3) { agent { id } } }'
        ran = await client.api.transport.execute(query, None, {})
        assert [a["agent"]["id"] for a in ran["assignations"]] == [second.id] * 3
        assert first.id != second.id
        made = [r.status.value for r in await client.api.reservations() if r.node.name == "stage"]
        assert made == ["ENDED"] * 3, "each run's reservation of its agent ended with the run"
        # The chosen agent went away: it stays chosen, and a run waits for it.
        await expect(choice.locator("option:checked")).to_have_text(
            f"{second.id[:10]} (away: runs wait for it)"
        )
        await form.get_by_role("button", name="Run").click()
        await expect(page.locator(".runs .pill", has_text="queued")).to_have_count(1)
        (waiting,) = await client.api.assignations(node="stage", status=AssignationStatus.QUEUED)
        await client.api.cancel(assignation=waiting.id)


async def test_a_function_runs_from_its_generated_form(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    received.clear()
    async with serving(client, acquire, name="microscope"):
        form = await open_form(page, server, client, "acquire")
        await expect(form).to_be_visible()

        # A widget per kind, defaults filled in, descriptions as help text.
        await expect(form.get_by_label("frames slider")).to_have_attribute("max", "8")
        await expect(form.locator("textarea#arg-notes")).to_be_visible()
        await expect(form.get_by_label("binning", exact=True)).to_have_value("2")
        await expect(form.get_by_label("region")).to_be_visible()
        await expect(form.get_by_text("Milliseconds per frame.")).to_be_visible()
        await expect(form.get_by_role("switch", name="Give comment a value")).not_to_be_checked()

        await form.get_by_label("frames", exact=True).fill("3")
        await form.get_by_label("exposure").fill("12.5")
        await form.get_by_label("sample").fill("HeLa")
        await form.get_by_label("notes").fill("first line\nsecond line")
        await form.get_by_label("autofocus").check()
        await form.get_by_label("start", exact=True).fill("2024-05-01T10:30:00")
        await form.get_by_label("channel").select_option("GFP")
        for value in ("100", "250"):
            await (
                form.locator("[data-port=positions]")
                .get_by_role("button", name="+ Add item")
                .click()
            )
            row = await form.locator("[data-port=positions] .row").count()
            await form.get_by_role("textbox", name=f"positions item {row}").fill(value)
        await form.locator("[data-port=gains]").get_by_role("button", name="+ Add entry").click()
        await form.get_by_label("gains key 1").fill("camera1")
        await form.get_by_label("gains value 1").fill("1.5")
        await form.get_by_label("x", exact=True).fill("10")
        await form.get_by_label("y", exact=True).fill("20")
        await form.get_by_role("radio", name="str").check()
        await form.get_by_label("scale (str)").fill("double")
        await form.get_by_label("stack").fill("blob-42")
        await form.get_by_role("switch", name="Give comment a value").check()
        await form.get_by_label("comment", exact=True).fill("calm cells")
        await screenshot(page, "function-page")

        await form.get_by_role("button", name="Run").click()
        run = page.get_by_role("region", name="Latest run")
        await expect(run).to_have_attribute("data-status", "DONE")
        await expect(run.locator(".yield-row")).to_have_count(3)
        await expect(run.locator(".yield-row").last).to_contain_text("HeLa-GFP-2.tif")
        await expect(run.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
        await expect(run.locator(".log-line")).to_contain_text("acquiring 3 frames of HeLa")
        await screenshot(page, "finished-run")

    [args] = received
    # Picked in the browser's time zone (Berlin, summer time), sent with its offset.
    assert args["start"] == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert args["start"].utcoffset() == timedelta(hours=2)
    assert args["channel"] is Channel.GFP
    assert args["region"] == Region(x=10, y=20, width=64)
    assert args["stack"].ref == "blob-42"
    expected = {
        "frames": 3,
        "exposure": 12.5,
        "sample": "HeLa",
        "notes": "first line\nsecond line",
        "autofocus": True,
        "positions": [100, 250],
        "gains": {"camera1": 1.5},
        "scale": "double",
        "comment": "calm cells",
        "binning": 2,
    }
    assert {key: args[key] for key in expected} == expected


def annotate(
    note: Annotated[str, widgets.paragraph(rows=8, placeholder="What did you see?")],
    threshold: Annotated[float, at.Ge(0), at.Le(1), widgets.slider(step=0.05)] = 0.5,
    overlay: Annotated[str, widgets.color()] = "#ff0000",
    stain: Annotated[str, widgets.text("e.g. DAPI")] = "",
) -> str:
    """Annotate an image."""
    return f"{note}|{threshold}|{overlay}|{stain}"


async def test_the_author_s_widgets_shape_the_form(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, annotate, name="notes"):
        form = await open_form(page, server, client, "annotate")
        note = form.get_by_label("note")
        await expect(note).to_have_attribute("rows", "8")  # a short key, a paragraph still
        await expect(note).to_have_attribute("placeholder", "What did you see?")
        await expect(form.get_by_label("stain")).to_have_attribute("placeholder", "e.g. DAPI")
        await expect(form.get_by_label("threshold slider")).to_have_attribute("step", "0.05")
        await expect(form.locator("[data-port=overlay] .field-hint")).to_have_count(0)

        await note.fill("mitosis")
        await form.get_by_label("overlay picker").fill("#00ff7f")
        await expect(form.get_by_label("overlay", exact=True)).to_have_value("#00ff7f")
        await form.get_by_role("button", name="Run").click()
        run = page.get_by_role("region", name="Latest run")
        await expect(run.locator(".yield-row")).to_contain_text("mitosis|0.5|#00ff7f|")

        await form.get_by_label("overlay", exact=True).fill("green")  # typed, not picked
        await form.get_by_role("button", name="Run").click()
        await expect(form.locator("#arg-overlay-error")).to_contain_text("must match")


async def test_invalid_input_is_marked_at_the_field_and_nothing_is_sent(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, acquire, name="microscope"):
        form = await open_form(page, server, client, "acquire")
        before = len(await client.api.assignations(limit=1000))

        frames = form.get_by_label("frames", exact=True)
        await frames.fill("0")
        await frames.blur()  # a field the user left shows its problem at once
        await expect(form.locator("#arg-frames-error")).to_have_text("must be at least 1, got 0")
        await form.get_by_label("exposure").fill("fast")
        await form.get_by_role("button", name="Run").click()

        await expect(frames).to_have_attribute("aria-invalid", "true")
        await expect(frames).to_be_focused()
        await expect(form.locator("#arg-exposure-error")).to_have_text(
            "expected a number, got 'fast'"
        )
        await expect(form.locator("#arg-channel-error")).to_contain_text("choose one of")
        await expect(form.get_by_role("alert").last).to_contain_text("need fixing")
        assert len(await client.api.assignations(limit=1000)) == before


async def test_cancelling_a_running_generator(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, watch_forever, name="ticker"):
        run = await run_with_defaults(page, server, client, "watch_forever")
        await expect(run.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "50")
        await expect(run.locator(".yield-row")).to_have_count(1)
        await run.get_by_role("button", name="Cancel").click()
        await expect(run).to_have_attribute("data-status", "CANCELLED")
        await expect(run.get_by_role("button", name="Cancel")).to_have_count(0)
        me = await client.api.me()
        await expect(run.locator(".notice.cancelled")).to_have_text(f"Cancelled by {me.name}.")


def greet(name: str, times: Annotated[int, at.Ge(1)] = 1, greeting: str = "Hello") -> str:
    """Greet somebody."""
    return " ".join([f"{greeting}, {name}!"] * times)


async def test_agents_are_listed_live(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    await sign_in(page, server)
    await page.get_by_role("link", name="Agents").click()
    async with serving(client, greet, name="front-desk") as agent:
        row = page.locator(f"[data-agent='{agent.id}']")
        await expect(row).to_contain_text("front-desk")
        await expect(row.locator("[data-status]")).to_have_attribute("data-status", "CONNECTED")
        await expect(row.get_by_role("link", name="greet")).to_be_visible()
    await expect(row.locator("[data-status]")).to_have_attribute("data-status", "DISCONNECTED")
    gone = page.get_by_role("table", name="Disconnected agents")
    await expect(gone.locator(f"[data-agent='{agent.id}']")).to_have_count(1)


async def test_past_calls_show_their_events_and_run_again_with_their_arguments(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, greet, name="front-desk"):
        assignation = await client.assign(greet, name="Ada", times=2)
        assert await assignation.result() == "Hello, Ada! Hello, Ada!"
        await sign_in(page, server)
        await page.get_by_role("link", name="Assignations").click()
        row = page.locator(f"[data-assignation='{assignation.id}']")
        await expect(row.locator("[data-status]")).to_have_attribute("data-status", "DONE")
        await expect(row.locator(".took")).to_have_text(re.compile(r"^\d+ ms$"))
        function = page.get_by_label("Function", exact=True)
        await function.fill("no_such_function")
        await expect(page.get_by_text("No calls match.")).to_be_visible()
        await function.fill("greet")
        await expect(row).to_be_visible()
        names = await page.locator("[data-assignation] strong").all_text_contents()
        assert set(names) == {"greet"}
        await row.get_by_role("link", name="greet").click()

        outcome = page.get_by_role("region", name="Outcome")
        await expect(outcome).to_contain_text("Hello, Ada! Hello, Ada!")
        arguments = page.get_by_role("region", name="Arguments")
        await expect(arguments).to_contain_text("Ada")
        # Left out by the caller: the default the function got.
        await expect(arguments.locator(".pair", has_text="greeting")).to_contain_text(
            re.compile(r"default\s*Hello")
        )
        await page.get_by_text("Events (").click()
        await expect(page.locator(".timeline li")).to_contain_text(["assigned", "yield", "done"])

        await page.get_by_role("button", name="Run again").click()
        # The signature reads as the SDK and the command line write it.
        await expect(page.locator(".signature")).to_have_text(arkitekt.node_of(greet).signature())
        form = page.get_by_role("form", name="Arguments of greet")
        await expect(form.get_by_label("name")).to_have_value("Ada")
        await expect(form.get_by_label("times")).to_have_value("2")
        await form.get_by_label("name").fill("Grace")
        await form.get_by_role("button", name="Run").click()
        run = page.get_by_role("region", name="Latest run")
        await expect(run).to_have_attribute("data-status", "DONE")
        await expect(run).to_contain_text("Hello, Grace! Hello, Grace!")


def tally(n: int) -> int:
    return n


async def test_older_calls_load_a_page_at_a_time(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, tally, name="counter"):
        for n in range(105):
            await client.call(tally, n)
    await sign_in(page, server)
    await page.get_by_role("link", name="Assignations").click()
    filtered = re.compile(r'"node":\s*"tally"')
    async with page.expect_response(lambda r: bool(filtered.search(r.request.post_data or ""))):
        await page.get_by_label("Function", exact=True).fill("tally")  # applied once typing pauses
    rows = page.locator("[data-assignation]")
    await expect(rows).to_have_count(100)
    await page.get_by_role("button", name="Show older").click()
    await expect(rows).to_have_count(105)
    await expect(page.get_by_role("button", name="Show older")).to_have_count(0)
    shown = await rows.evaluate_all("(rows) => rows.map((row) => row.dataset.assignation)")
    assert len(set(shown)) == 105, "every call once"


async def test_a_narrow_window_needs_no_sideways_scrolling_and_every_input_is_labelled(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, acquire, name="microscope"):
        await page.set_viewport_size({"width": 390, "height": 800})
        form = await open_form(page, server, client, "acquire")
        await form.locator("[data-port=gains]").get_by_role("button", name="+ Add entry").click()
        await form.locator("[data-port=positions]").get_by_role("button", name="+ Add item").click()
        await form.get_by_role("switch", name="Give comment a value").check()

        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        unlabelled = await page.evaluate(UNLABELLED_CONTROLS)
        assert unlabelled == []
        await screenshot(page, "function-page-narrow")


# Every form control must have an accessible name: a <label>, aria-label or aria-labelledby
# pointing at text (buttons may name themselves by their text).
UNLABELLED_CONTROLS = """
[...document.querySelectorAll("input, select, textarea, button")].filter((el) => {
  const byIds = (el.getAttribute("aria-labelledby") || "").split(" ").filter(Boolean)
    .map((id) => document.getElementById(id)?.textContent.trim()).join("");
  const own = el.tagName === "BUTTON" ? el.textContent.trim() : "";
  const labels = [...(el.labels || [])].map((l) => l.textContent.trim()).join("");
  return !(labels || byIds || (el.getAttribute("aria-label") || "").trim() || own);
}).map((el) => el.outerHTML.slice(0, 120))
"""


# --- structures: files and arrays go to central storage before the call ---


def png(pixels: np.ndarray[Any, Any]) -> bytes:
    """A PNG of an (h, w) grey or (h, w, 3) RGB uint8 array."""
    height, width = pixels.shape[:2]
    colour = 2 if pixels.ndim == 3 else 0
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


arrays_received: list[np.ndarray[Any, Any]] = []


async def invert(image: Array) -> Array:
    """Invert an 8-bit image."""
    data = await image.load()
    arrays_received.append(data)
    return Array(255 - data)


def shout(text: File) -> File:
    """Upper-case a text file."""
    return File(text.read_sync().upper(), name=f"loud-{text.name}")


async def test_an_image_uploaded_as_an_array_comes_back_as_a_preview(
    page: Page, server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    y, x = np.mgrid[0:24, 0:32]
    picture = np.stack([x * 8, y * 10, np.full_like(x, 200)], axis=-1).astype(np.uint8)
    image = tmp_path / "cells.png"
    image.write_bytes(png(picture))
    arrays_received.clear()
    async with serving(client, invert, name="imaging"):
        form = await open_form(page, server, client, "invert")
        await form.get_by_label("image").set_input_files(image)
        await expect(form.locator("[data-upload=done]")).to_contain_text(f"24{BY}32{BY}3 uint8")
        await form.get_by_role("button", name="Run").click()

        run = page.get_by_role("region", name="Latest run")
        preview = run.get_by_role("img", name=f"Preview of the 24{BY}32{BY}3 uint8 array")
        await expect(preview).to_be_visible()
        await screenshot(page, "array-preview")
        shown = await preview.evaluate(PIXELS)

    [received] = arrays_received
    np.testing.assert_array_equal(received, picture)
    # The preview shows the returned array's pixels, exactly (RGBA from the canvas).
    assert shown["size"] == [32, 24]
    assert shown["pixel"] == [*(255 - picture[5, 7]).tolist(), 255]


# The first image's size and the pixel at row 5, column 7, read back through a canvas.
PIXELS = """(img) => {
  const [width, height] = [img.naturalWidth, img.naturalHeight];
  const canvas = Object.assign(document.createElement("canvas"), {width, height});
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  return {size: [width, height], pixel: [...context.getImageData(7, 5, 1, 1).data]};
}"""


async def test_a_npy_file_uploads_as_an_array_of_its_dtype(
    page: Page, server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    values = np.linspace(-1, 1, 30, dtype=np.float32).reshape(5, 6)
    path = tmp_path / "field.npy"
    np.save(path, values)
    arrays_received.clear()
    async with serving(client, invert, name="imaging"):
        form = await open_form(page, server, client, "invert")
        await form.get_by_label("image").set_input_files(path)
        await expect(form.locator("[data-upload=done]")).to_contain_text(f"5{BY}6 float32")
        await form.get_by_role("button", name="Run").click()
        run = page.get_by_role("region", name="Latest run")
        await expect(
            run.get_by_role("img", name=f"Preview of the 5{BY}6 float32 array")
        ).to_be_visible()
        async with page.expect_download() as started:  # and the result saves as one
            await run.get_by_role("button", name="⤓ .npy").click()
        download = await started.value
        assert download.suggested_filename == f"{await run.locator('code.ref').inner_text()}.npy"
        saved = np.load(await download.path())
    [received] = arrays_received
    assert received.dtype == np.float32
    np.testing.assert_array_equal(received, values)
    assert saved.dtype == np.float32
    np.testing.assert_array_equal(saved, 255 - values)


async def brightest_planes(planes: list[Array]) -> list[Array]:
    """The two brightest planes of a stack, brightest first."""
    loaded = [await plane.load() for plane in planes]
    arrays_received.extend(loaded)
    return [Array(p) for p in sorted(loaded, key=lambda p: -float(p.mean()))[:2]]


async def test_a_stack_uploads_in_one_pick_and_each_result_shows_its_preview(
    page: Page, server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    paths = [tmp_path / f"z{z}.npy" for z in range(3)]
    for z, path in enumerate(paths):
        np.save(path, np.full((8, 10), 10 * (z + 1), dtype=np.uint8))
    arrays_received.clear()
    async with serving(client, brightest_planes, name="imaging"):
        form = await open_form(page, server, client, "brightest_planes")
        await form.get_by_label("Add files to planes").set_input_files(paths)
        await expect(form.locator("[data-upload=done]")).to_have_count(3)
        await form.get_by_role("button", name="Run").click()

        run = page.get_by_role("region", name="Latest run")
        previews = run.get_by_role("img", name=f"Preview of the 8{BY}10 uint8 array")
        await expect(previews).to_have_count(2)
        shown = [await preview.evaluate(PIXELS) for preview in await previews.all()]
    assert [plane[0, 0] for plane in arrays_received] == [10, 20, 30]  # in the order picked
    assert [each["pixel"][0] for each in shown] == [30, 20]


async def test_a_file_uploads_and_its_result_is_a_download_link(
    page: Page, server: RunningPlatform, client: arkitekt.Client, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("cells look happy\n")
    async with serving(client, shout, name="scribe"):
        form = await open_form(page, server, client, "shout")
        await form.get_by_role("button", name="Run").click()  # nothing picked yet
        await expect(form.locator("#arg-text-error")).to_have_text(
            "choose a file or give a stored reference"
        )

        await form.get_by_label("text").set_input_files(notes)
        await expect(form.locator("[data-upload=done]")).to_contain_text("notes.txt")
        await form.get_by_role("button", name="Run").click()
        run = page.get_by_role("region", name="Latest run")
        link = run.get_by_role("link", name="loud-notes.txt")
        async with page.expect_download() as started:
            await link.click()
        download = await started.value
        assert download.suggested_filename == "loud-notes.txt"
        content = await asyncio.to_thread(Path.read_text, await download.path())
    assert content == "CELLS LOOK HAPPY\n"


async def test_a_result_s_reference_chains_into_another_function_s_form(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    arrays_received.clear()
    async with serving(client, invert, name="imaging"):
        with client.storage.activate():
            stored = await Array(np.full((4, 6), 5, dtype=np.uint8)).shrink()
        form = await open_form(page, server, client, "invert")
        typed = form.get_by_label("Stored reference")
        await typed.fill(stored[:10])
        await form.get_by_role("button", name="Run").click()
        await expect(form.locator("#arg-image-error")).to_contain_text("32 hexadecimal digits")

        await typed.fill(stored)  # as the Storage page or a result shows it
        await expect(
            form.get_by_role("img", name=f"Preview of the 4{BY}6 uint8 array")
        ).to_be_visible()
        await form.get_by_role("button", name="Run").click()
        run = page.get_by_role("region", name="Latest run")
        result = run.locator("figure.array-value code.ref")
        await expect(result).to_have_text(re.compile(r"[0-9a-f]{32}"))
        returned = await result.text_content()

        # The result's reference runs the next call, without a download or an upload.
        await typed.fill(returned or "")
        await form.get_by_role("button", name="Run").click()
        await expect(run.locator("figure.array-value code.ref")).not_to_have_text(returned or "")
        await screenshot(page, "reference-chain")
    first, second = arrays_received
    assert first.tolist() == [[5] * 6] * 4
    assert second.tolist() == [[250] * 6] * 4


async def timelapse(frames: int = 3) -> AsyncIterator[Array]:
    """Acquire a few frames."""
    for i in range(frames):
        yield Array(np.full((6, 8), 100 * i, dtype=np.uint8))


async def test_a_stream_of_arrays_plays_as_frames(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, timelapse, name="scope"):
        run = await run_with_defaults(page, server, client, "timelapse")
        await expect(run).to_have_attribute("data-status", "DONE")
        frame = run.locator(".frame")
        await expect(run.locator(".frame-position")).to_have_text("frame 3 of 3")
        await expect(frame).to_have_attribute("data-ordinal", "3")
        preview = frame.get_by_role("img", name=f"Preview of the 6{BY}8 uint8 array")
        await expect(preview).to_be_visible()
        assert (await preview.evaluate(PIXELS))["pixel"][:3] == [200] * 3
        assert await run.get_by_role("img").count() == 1, "one frame in view, not the stream"

        await run.get_by_label("Frame", exact=True).fill("0")  # back to the first
        await expect(frame).to_have_attribute("data-ordinal", "1")
        await expect(run.get_by_label("Newest")).not_to_be_checked()
        for _ in range(100):  # the first frame's pixels replace the third's once fetched
            if (await preview.evaluate(PIXELS))["pixel"][:3] == [0] * 3:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the first frame never showed")
        await screenshot(page, "frames")
        await run.get_by_label("Newest").check()
        await expect(frame).to_have_attribute("data-ordinal", "3")


def z_stack(slices: int = 4) -> Array:
    """A stack of slices, each brighter than the one before."""
    return Array(np.stack([np.full((6, 8), 50 * z, dtype=np.uint8) for z in range(slices)]))


async def test_a_stack_of_images_shows_one_slice_at_a_time(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, z_stack, name="scope"):
        run = await run_with_defaults(page, server, client, "z_stack")
        first = run.get_by_role("img", name=f"Preview of slice 1 of the 4{BY}6{BY}8 uint8 array")
        await expect(first).to_be_visible()
        assert (await first.evaluate(PIXELS))["pixel"][:3] == [0] * 3
        await run.get_by_label("Slice").fill("3")
        last = run.get_by_role("img", name=f"Preview of slice 4 of the 4{BY}6{BY}8 uint8 array")
        await expect(last).to_be_visible()
        assert (await last.evaluate(PIXELS))["pixel"][:3] == [150] * 3
        await expect(run.locator(".frame-position")).to_have_text("slice 4 of 4")


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


async def test_a_failed_call_shows_the_error_and_its_traceback(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, divide, name="calculator"):
        form = await open_form(page, server, client, "divide")
        await form.get_by_label("a").fill("1")
        await form.get_by_label("b").fill("0")
        await form.get_by_role("button", name="Run").click()
        run = page.get_by_role("region", name="Latest run")
        await expect(run).to_have_attribute("data-status", "ERROR")
        failure = run.get_by_role("alert")
        await expect(failure).to_contain_text("ZeroDivisionError: float division by zero")
        await failure.get_by_text("Traceback", exact=True).click()
        await expect(failure.locator("pre")).to_contain_text("return a / b")


gate = asyncio.Event()


async def two_halves(half: int = 3) -> AsyncIterator[int]:
    """Yield `half` numbers, wait for the gate, then yield `half` more."""
    for n in range(half):
        yield n
    await gate.wait()
    for n in range(half, 2 * half):
        yield n


async def test_a_run_resumes_after_a_lost_connection_without_gaps_or_repeats(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    sockets: list[WebSocketRoute] = []
    reconnected = asyncio.Event()

    def through(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)
        if len(sockets) > 1:
            reconnected.set()

    gate.clear()
    await page.route_web_socket(re.compile(r"/graphql$"), through)
    async with serving(client, two_halves, name="halves"):
        run = await run_with_defaults(page, server, client, "two_halves")
        await expect(run.locator(".yield-row")).to_have_count(3)

        await sockets[-1].close(code=1006)  # the network drops...
        gate.set()  # ...while the function yields the second half
        await asyncio.wait_for(reconnected.wait(), timeout=10)
        await expect(run).to_have_attribute("data-status", "DONE")
        rows = run.locator(".yield-row td:last-child")
        await expect(rows).to_have_text(["0", "1", "2", "3", "4", "5"])


async def long_stream(count: int = 1_200) -> AsyncIterator[int]:
    """Yields `count` numbers, logging a line every other one."""
    for n in range(count):
        if n % 2 == 0:
            arkitekt.log(f"at {n}")
        yield n


async def test_a_long_stream_keeps_its_newest_results_logs_and_events_on_the_page(
    page: Page, server: RunningPlatform, client: arkitekt.Client
) -> None:
    async with serving(client, long_stream, name="long"):
        run = await run_with_defaults(page, server, client, "long_stream")
        await expect(run).to_have_attribute("data-status", "DONE")

        results = run.locator(".results")
        await expect(results.locator(".count")).to_have_text("1200")
        await expect(results).to_contain_text("700 earlier results are not shown.")
        rows = run.locator(".yield-row")
        await expect(rows).to_have_count(500)
        await expect(rows.first.locator("td")).to_have_text(["701", "700"])
        await expect(rows.last.locator("td")).to_have_text(["1200", "1199"])

        logs = run.locator(".logs")
        await expect(logs.locator(".count")).to_have_text("600")
        await expect(logs).to_contain_text("100 earlier lines are not shown.")
        await expect(logs.locator(".log-line").last).to_contain_text("at 1198")

        # The call's own page starts from the newest events: it loads no more than it keeps.
        def detail(response: Response) -> bool:
            return "query Assignation(" in (response.request.post_data or "")

        async with page.expect_response(detail) as answered:
            await run.get_by_role("link", name="details").click()
        loaded = (await (await answered.value).json())["data"]["assignation"]["events"]
        assert len(loaded) == 500
        assert loaded[0]["sequence"] > 1
        await page.get_by_text("Events (").click()
        events = page.locator(".timeline li")
        await expect(events).to_have_count(500)
        await expect(events.last).to_contain_text("done")
        await expect(page.locator(".events summary")).to_have_text(re.compile(r"Events \(\d{4}\)"))
        outcome = page.get_by_role("region", name="Outcome")
        await expect(outcome.locator(".results .count")).to_have_text("1200")
        rows = outcome.locator(".yield-row")
        await expect(rows.last.locator("td")).to_have_text(["1200", "1199"])
        first = int(await rows.first.locator("td").first.inner_text())
        assert 700 < first < 1200
        await expect(rows.first.locator("td")).to_have_text([str(first), str(first - 1)])
        await expect(outcome.locator(".logs")).to_contain_text("Earlier lines are not shown.")
        await page.get_by_text("Events (").click()  # folded again, for the picture
        await screenshot(page, "long-stream-call")
