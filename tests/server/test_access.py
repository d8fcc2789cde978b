"""Nobody sees or calls what their teams were not given: another team's ids answer exactly
as ids that do not exist, and asking changes nothing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

import arkitekt
from arkitekt.api.enums import AssignationStatus, Scope
from arkitekt.api.input_types import AgentInput, HostInput, ImplementationInput, ReleaseInput
from arkitekt.runtime.storage import storage_of
from arkitekt.testing import RunningPlatform, serving
from tests.accounts import add_team, add_user, unique

from .raw import codes, first_message, post

ALL = (Scope.ADMIN, Scope.AGENT, Scope.CALL)


def secret_sum(a: int, b: int) -> int:
    """Team A's function."""
    return a + b


def bobs_own(x: int) -> int:
    return x


@dataclass(frozen=True)
class Lab:
    """Team A's things, made by alice, and the other team's bob."""

    url: str
    alice: str
    bob: str
    carol: str
    """Alice's teammate."""
    team: str
    ids: dict[str, str]
    bob_host: str
    """Bob's host token."""
    own: dict[str, str]
    """Bob's own release, host and deployment."""


def fake_ids() -> dict[str, str]:
    """Ids shaped like real ones, of nothing."""
    fresh = {
        key: uuid.uuid4().hex
        for key in ("node", "agent", "reservation", "assignation", "release", "host", "deployment")
    }
    return {
        **fresh,
        "token": uuid.uuid4().hex,
        "blob": uuid.uuid4().hex,
        "hash": uuid.uuid4().hex * 2,
        "team": unique("no-team"),
        "user": unique("nobody"),
        "name": unique("no_function"),
        "host_name": unique("no-host"),
    }


async def shipped(client: arkitekt.Client, url: str, teams: list[str]) -> dict[str, str]:
    """A release of the client's user, deployed to a host of theirs open to `teams`."""
    storage = storage_of(client)
    blob = await storage.create()
    await storage.put(blob, "bundle.tar.gz", b"not really a bundle")
    release = await client.api.publish_release(
        input=ReleaseInput(
            app=unique("app"),
            version="1.0",
            entry="app.py",
            requirements=[],
            blob=blob,
            digest="0" * 64,
            functions=[],
        )
    )
    host_token = (await client.api.create_token(name="pc", scopes=[Scope.HOST])).secret
    async with arkitekt.connect(url, host_token) as host_client:
        host = await host_client.api.register_host(input=HostInput(name=unique("pc"), teams=teams))
    deployment = await client.api.deploy(release=release.id, host=host.id)
    return {
        "release": release.id,
        "host": host.id,
        "host_name": host.name,
        "deployment": deployment.id,
        "bundle": blob,
        "host_token": host_token,
    }


@pytest.fixture
async def lab(client: arkitekt.Client, server: RunningPlatform) -> AsyncIterator[Lab]:
    team, other = await add_team(client, "a"), await add_team(client, "b")
    alice_name, alice = await add_user(client, "alice", teams=[team], scopes=ALL)
    _, bob = await add_user(client, "bob", teams=[other], scopes=ALL)
    _, carol = await add_user(client, "carol", teams=[team])
    async with (
        arkitekt.connect(server.url, alice) as a,
        serving(a, secret_sum, name=unique("alice-app"), teams=[team]) as agent,
    ):
        node = await a.node(secret_sum)
        reservation = await a.reserve(secret_sum)
        done = await a.assign(secret_sum, 1, 2)
        assert await done.result() == 3
        blob = await storage_of(a).create()
        await storage_of(a).put(blob, "data", b"alice's")
        (token,) = await a.api.tokens()
        assert agent.id is not None
        alices = await shipped(a, server.url, [team])
        async with arkitekt.connect(server.url, bob) as b:
            bobs = await shipped(b, server.url, [])
        ids = {
            "node": node.id,
            "hash": node.hash,
            "agent": agent.id,
            "reservation": reservation.id,
            "assignation": done.id,
            "token": token.id,
            "blob": blob,
            "team": team,
            "user": alice_name,
            "name": "secret_sum",
            **{key: alices[key] for key in ("release", "host", "host_name", "deployment")},
        }
        own = {f"bobs_{key}": value for key, value in bobs.items()}
        yield Lab(server.url, alice, bob, carol, team, ids, bobs["host_token"], own)


# Every operation that takes an id (or a team's or user's name), as bob sends it.
QUERIES = {
    "node": ("query($id: ID) { node(id: $id) { id } }", {"id": "node"}),
    "node.hash": ("query($hash: String) { node(hash: $hash) { id } }", {"hash": "hash"}),
    "nodes": ("query($name: String) { nodes(name: $name) { id } }", {"name": "name"}),
    "agent": ("query($id: ID!) { agent(id: $id) { id } }", {"id": "agent"}),
    "reservation": ("query($id: ID!) { reservation(id: $id) { id } }", {"id": "reservation"}),
    "assignation": ("query($id: ID!) { assignation(id: $id) { id } }", {"id": "assignation"}),
    "assignations": (
        "query($id: ID) { assignations(before: $id) { id } }",
        {"id": "assignation"},
    ),
    "tokens": ("query($user: String) { tokens(user: $user) { id } }", {"user": "user"}),
    "release": ("query($id: ID!) { release(id: $id) { id } }", {"id": "release"}),
    "releases": ("query($app: String) { releases(app: $app) { id } }", {"app": "name"}),
    "host": ("query($id: ID) { host(id: $id) { id } }", {"id": "host"}),
    "host.name": ("query($name: String) { host(name: $name) { id } }", {"name": "host_name"}),
    "deployments": ("query($host: ID) { deployments(host: $host) { id } }", {"host": "host"}),
    "deployment": ("query($id: ID!) { deployment(id: $id) { id } }", {"id": "deployment"}),
}
MUTATIONS = {
    "reserve": ("mutation($node: ID!) { reserve(node: $node) { id } }", {"node": "node"}),
    "reserve.agents": (
        "mutation($node: ID!, $agents: [ID!]) { reserve(node: $node, agents: $agents) { id } }",
        {"node": "bobs_node", "agents": ["agent"]},
    ),
    "unreserve": (
        "mutation($id: ID!) { unreserve(reservation: $id) { id } }",
        {"id": "reservation"},
    ),
    "assign": (
        "mutation($node: ID) { assign(node: $node, args: {a: 1, b: 2}) { id } }",
        {"node": "node"},
    ),
    "assign.reservation": (
        "mutation($r: ID) { assign(reservation: $r, args: {a: 1, b: 2}) { id } }",
        {"r": "reservation"},
    ),
    "cancel": ("mutation($id: ID!) { cancel(assignation: $id) { id } }", {"id": "assignation"}),
    "reportEvents": (
        "mutation($agent: ID!, $a: ID!) { reportEvents(agent: $agent, epoch: 1, "
        "events: [{assignation: $a, index: 1, kind: DONE}], acknowledge: [$a]) "
        "{ recorded acknowledged } }",
        {"agent": "agent", "a": "assignation"},
    ),
    "reportEvents.assignation": (
        "mutation($agent: ID!, $epoch: Int!, $a: ID!) { reportEvents(agent: $agent, "
        "epoch: $epoch, events: [{assignation: $a, index: 1, kind: DONE}], acknowledge: [$a]) "
        "{ recorded acknowledged } }",
        {"agent": "bobs_agent", "epoch": "bobs_epoch", "a": "assignation"},
    ),
    "disconnectAgent": (
        "mutation($id: ID!) { disconnectAgent(agent: $id) { id } }",
        {"id": "agent"},
    ),
    "registerAgent": (
        'mutation($team: String!) { registerAgent(input: {name: "b", instance: "bob-x", '
        "implementations: [], teams: [$team]}) { id } }",
        {"team": "team"},
    ),
    "addMember": (
        'mutation($team: String!) { addMember(team: $team, user: "bob") { role } }',
        {"team": "team"},
    ),
    "removeMember": (
        "mutation($team: String!, $user: String!) { removeMember(team: $team, user: $user) "
        "{ id } }",
        {"team": "team", "user": "user"},
    ),
    "revokeToken": ("mutation($id: ID!) { revokeToken(id: $id) { id } }", {"id": "token"}),
    "createToken": (
        'mutation($user: String) { createToken(name: "x", user: $user) { secret } }',
        {"user": "user"},
    ),
    "publishRelease": (
        'mutation($blob: ID!) { publishRelease(input: {app: "x", version: "1", entry: "a.py", '
        'requirements: [], blob: $blob, digest: "' + "0" * 64 + '", functions: []}) { id } }',
        {"blob": "blob"},
    ),
    "deploy": (
        "mutation($r: ID!, $h: ID!) { deploy(release: $r, host: $h) { id } }",
        {"r": "release", "h": "bobs_host"},
    ),
    "deploy.host": (
        "mutation($r: ID!, $h: ID!) { deploy(release: $r, host: $h) { id } }",
        {"r": "bobs_release", "h": "host"},
    ),
    "deploy.teams": (
        "mutation($r: ID!, $h: ID!, $t: String!) { deploy(release: $r, host: $h, teams: [$t]) "
        "{ id } }",
        {"r": "bobs_release", "h": "bobs_host", "t": "team"},
    ),
    "undeploy": (
        "mutation($id: ID!) { undeploy(deployment: $id) { id } }",
        {"id": "deployment"},
    ),
}
# What a host token may do, as bob's host sends it: about alice's deployments and hosts.
HOSTING = {
    "registerHost": (
        'mutation($team: String!) { registerHost(input: {name: "bob-pc-x", teams: [$team]}) '
        "{ id } }",
        {"team": "team"},
    ),
    "deploymentToken": (
        "mutation($id: ID!) { deploymentToken(deployment: $id) }",
        {"id": "deployment"},
    ),
    "retireDeploymentToken": (
        'mutation($id: ID!) { retireDeploymentToken(deployment: $id, token: "ark_x") }',
        {"id": "deployment"},
    ),
    "reportDeployment": (
        'mutation($id: ID!) { reportDeployment(deployment: $id, status: CRASHED, logs: ["x"]) '
        "{ id } }",
        {"id": "deployment"},
    ),
    "reportDeployment.agent": (
        "mutation($id: ID!, $agent: ID) { reportDeployment(deployment: $id, status: RUNNING, "
        "agent: $agent) { id } }",
        {"id": "bobs_deployment", "agent": "agent"},
    ),
    "reportDeployment.release": (
        "mutation($id: ID!, $r: ID) { reportDeployment(deployment: $id, release: $r, "
        "status: RUNNING) { status } }",
        {"id": "bobs_deployment", "r": "release"},
    ),
}
SUBSCRIPTIONS = {
    "watchAssignationEvents": (
        "subscription($id: ID!) { watchAssignationEvents(assignation: $id) { sequence } }",
        {"id": "assignation"},
    ),
    "call": (
        "subscription($node: ID) { call(node: $node, args: {a: 1, b: 2}) { kind } }",
        {"node": "node"},
    ),
    "call.reservation": (
        "subscription($r: ID) { call(reservation: $r, args: {a: 1, b: 2}) { kind } }",
        {"r": "reservation"},
    ),
    "watchReservations": (
        "subscription($id: ID) { watchReservations(reservation: $id) { id } }",
        {"id": "reservation"},
    ),
    "watchAssignations": (
        "subscription($id: ID!) { watchAssignations(agent: $id) { kind } }",
        {"id": "agent"},
    ),
    "watchHost": (
        "subscription($id: ID!) { watchHost(host: $id) { epoch } }",
        {"id": "host"},
    ),
}


def variables(template: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any]:
    def value(key: Any) -> Any:
        return [ids.get(k, k) for k in key] if isinstance(key, list) else ids.get(key, key)

    return {name: value(key) for name, key in template.items()}


def normalized(answer: dict[str, Any], *ids: dict[str, str]) -> str:
    """The answer with every id in it replaced by a placeholder."""
    text = json.dumps(answer, sort_keys=True)
    for known in ids:
        for key, value in known.items():
            if isinstance(value, str) and len(value) > 3:
                text = text.replace(value, f"<{key}>")
    return re.sub(r"\b[0-9a-f]{32}\b", "<id>", text)


def test_the_sweep_covers_every_operation_that_takes_an_id() -> None:
    from graphql import get_named_type

    from arkitekt.server.resolvers import build_schema

    schema = build_schema()
    swept = {name.split(".")[0] for name in (*QUERIES, *MUTATIONS, *HOSTING, *SUBSCRIPTIONS)}
    taking_ids = set()
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert root is not None
        for name, field in root.fields.items():
            named = {get_named_type(argument.type).name for argument in field.args.values()}
            if "ID" in named or {"AgentInput", "EventInput", "ReleaseInput", "HostInput"} & named:
                taking_ids.add(name)
    assert taking_ids <= swept, f"not swept: {sorted(taking_ids - swept)}"


async def test_another_teams_ids_answer_as_ids_that_do_not_exist(
    lab: Lab, server: RunningPlatform
) -> None:
    async with arkitekt.connect(server.url, lab.bob) as bob:
        # Bob's own agent, holding a lease, to report with.
        node = arkitekt.node_of(bobs_own)
        bobs_agent = await bob.api.register_agent(
            input=AgentInput(
                name="bob",
                instance=unique("bob"),
                implementations=[ImplementationInput(interface="own", node=node.to_input())],
            )
        )
        work = bob.api.watch_assignations(agent=bobs_agent.id)
        lease = (await anext(work))[0].epoch
        own = {
            "bobs_node": bobs_agent.implementations[0].node.id,
            "bobs_agent": bobs_agent.id,
            "bobs_epoch": lease,
        }
        own.update(lab.own)
        theirs, fake = {**lab.ids, **own}, {**fake_ids(), **own}
        before = await snapshot(lab)
        for name, (query, template) in {**QUERIES, **MUTATIONS}.items():
            answers = [
                await post(lab.url, lab.bob, query, **variables(template, ids))
                for ids in (theirs, fake)
            ]
            assert normalized(answers[0], theirs) == normalized(answers[1], fake), name
            if name in MUTATIONS and name != "reportEvents.assignation":
                assert codes(answers[0]) in (["NOT_FOUND"], ["FORBIDDEN"]), (name, answers[0])
            elif name == "assignations":  # paging on from a call bob cannot see
                assert codes(answers[0]) == ["NOT_FOUND"], (name, answers[0])
            elif name in QUERIES and name != "tokens":
                assert list(answers[0]["data"].values()) in ([None], [[]]), (name, answers[0])
            elif name == "reportEvents.assignation":  # not bob's: skipped, as unknown ones
                assert answers[0]["data"] == {"reportEvents": {"recorded": 0, "acknowledged": []}}
        for name, (query, template) in HOSTING.items():
            answers = [
                await post(lab.url, lab.bob_host, query, **variables(template, ids))
                for ids in (theirs, fake)
            ]
            assert normalized(answers[0], theirs) == normalized(answers[1], fake), name
            if name == "reportDeployment.release":  # another release's report changes nothing
                assert answers[0]["data"] == {"reportDeployment": {"status": "STARTING"}}
            else:
                assert codes(answers[0]) == ["NOT_FOUND"], (name, answers[0])
        for name, (query, template) in SUBSCRIPTIONS.items():
            token = lab.bob_host if name == "watchHost" else lab.bob
            answers = [
                await first_message(lab.url, token, query, **variables(template, ids))
                for ids in (theirs, fake)
            ]
            assert normalized(answers[0], theirs) == normalized(answers[1], fake), name
            assert codes(answers[0]) == ["NOT_FOUND"], (name, answers[0])
        await work.aclose()
        assert await snapshot(lab) == before


async def test_blobs_of_another_team_answer_as_missing_ones(lab: Lab) -> None:
    theirs, fake = lab.ids["blob"], fake_ids()["blob"]
    headers = {"Authorization": f"Bearer {lab.bob}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for method, path in (
            ("GET", ""),
            ("GET", "/data"),
            ("HEAD", "/data"),
            ("PUT", "/more"),
        ):
            answers = []
            for blob in (theirs, fake):
                async with session.request(
                    method, f"{lab.url}/blobs/{blob}{path}", data=b"x"
                ) as response:
                    body = await response.text()
                    answers.append((response.status, body.replace(blob, "<blob>")))
            assert answers[0] == answers[1], (method, path)
            assert answers[0][0] == 404


async def test_lists_hold_only_what_your_teams_see(lab: Lab) -> None:
    everything = """{
        nodes { id implementations { id } }
        agents { id }
        reservations { id }
        assignations { id }
        teams { name }
    }"""
    bob = json.dumps(await post(lab.url, lab.bob, everything))
    for key in ("node", "agent", "reservation", "assignation", "team"):
        assert lab.ids[key] not in bob, key
    carol = (await post(lab.url, lab.carol, everything))["data"]
    assert lab.ids["node"] in {n["id"] for n in carol["nodes"]}
    assert [a["id"] for a in carol["agents"]] == [lab.ids["agent"]]
    assert carol["teams"] == [{"name": lab.team}]
    # Reservations and assignations are their caller's own, even within a team.
    assert carol["reservations"] == carol["assignations"] == []


async def test_a_teammate_calls_and_an_outsider_cannot_route_to_the_agent(
    lab: Lab, server: RunningPlatform
) -> None:
    async with arkitekt.connect(server.url, lab.carol) as carol:
        assert await carol.call("secret_sum", 20, 22) == 42
    async with arkitekt.connect(server.url, lab.bob) as bob:
        with pytest.raises(arkitekt.TargetError, match="No node named 'secret_sum'"):
            await bob.call("secret_sum", 1, 2)
        # Nodes are shared by content: bob may store the same definition and see its
        # contract, but never the agents serving team A, nor reach them.
        stored = await bob.api.create_node(input=arkitekt.node_of(secret_sum).to_input())
        assert stored.id == lab.ids["node"]
        (found,) = await bob.api.nodes(name="secret_sum")
        assert (found.id, found.implementations) == (stored.id, [])
        assignation = await bob.api.assign(node=stored.id, args={"a": 1, "b": 2})
        assert assignation.status is AssignationStatus.QUEUED
        cancelled = await bob.api.cancel(assignation=assignation.id)
        assert cancelled.status is AssignationStatus.CANCELLED


async def test_leaving_a_team_takes_its_functions_away_at_once(
    lab: Lab, client: arkitekt.Client, server: RunningPlatform
) -> None:
    name, dave = await add_user(client, "dave", teams=[lab.team])
    async with arkitekt.connect(server.url, dave) as member:
        assert await member.api.assign(node=lab.ids["node"], args={"a": 1, "b": 1})
        assert [a.id for a in await member.api.agents()] == [lab.ids["agent"]]
        await client.api.remove_member(team=lab.team, user=name)
        with pytest.raises(arkitekt.NotFoundError):
            await member.api.assign(node=lab.ids["node"], args={"a": 1, "b": 1})
        assert await member.api.get_node(id=lab.ids["node"]) is None
        assert await member.api.agents() == []


async def snapshot(lab: Lab) -> dict[str, Any]:
    """What alice sees of her things."""
    query = """query($node: ID, $agent: ID!, $reservation: ID!, $assignation: ID!) {
        node(id: $node) { id implementations(live: true) { id } }
        agent(id: $agent) { status teams { name } }
        reservation(id: $reservation) { status }
        assignation(id: $assignation) { status events { sequence kind } }
        tokens { id revokedAt }
        teams { members { user { name } role } }
        deployments { id status message restarts logs { line } }
        releases { id }
    }"""
    ids = lab.ids
    answer = await post(
        lab.url,
        lab.alice,
        query,
        node=ids["node"],
        agent=ids["agent"],
        reservation=ids["reservation"],
        assignation=ids["assignation"],
    )
    assert "errors" not in answer, answer
    data: dict[str, Any] = answer["data"]
    assert data["agent"]["status"] == "CONNECTED"
    assert data["node"]["implementations"]
    return data
