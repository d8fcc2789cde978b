// The GraphQL documents the dashboard sends. Everything here is in the public schema.

const PORT_FIELDS = `
  key kind nullable default description label identifier
  choices { value label description }
  constraints { gt ge lt le minLength maxLength pattern }
  widget { kind step rows placeholder }`;

// Fragments cannot recurse, and the server nests ports at most five levels deep.
const PORT = `${PORT_FIELDS}
  children { ${PORT_FIELDS}
    children { ${PORT_FIELDS}
      children { ${PORT_FIELDS}
        children { ${PORT_FIELDS} } } } }`;

const MODELS = `models { identifier description fields { ${PORT} } }`;

const AGENT = `id name instance hostname status connectedAt lastSeen running`;

export const ME = `query Me { me { id name storedBytes } }`;

export const NODES = `
  query Nodes($search: String) {
    nodes(search: $search, limit: 200) {
      id hash name description kind createdAt superseded
      args { ${PORT} }
      returns { ${PORT} }
      implementations(live: true) { id interface agent { ${AGENT} } }
    }
  }`;

export const NODE = `
  query Node($id: ID!) {
    node(id: $id) {
      id hash name description kind createdAt superseded
      args { ${PORT} }
      returns { ${PORT} }
      ${MODELS}
      implementations(live: true) { id interface agent { ${AGENT} } }
    }
  }`;

export const AGENTS = `
  query Agents {
    agents { ${AGENT} implementations { id interface active node { id name } } }
  }`;

// Enough to know that who serves what changed: views that show more reload their query.
export const AGENT_CHANGES = `subscription AgentChanges { watchAgents { id status } }`;

export const WATCH_AGENTS = `
  subscription WatchAgents {
    watchAgents { ${AGENT} implementations { id interface active node { id name } } }
  }`;

const EVENT = `assignation sequence kind yields message progress level errorType traceback createdAt`;

const ASSIGNATION = `
  id reference status sequence args createdAt updatedAt
  agent { id name instance }
  node { id name kind }`;

export const ASSIGNATIONS = `
  query Assignations($status: AssignationStatus, $node: String, $before: ID, $limit: Int) {
    assignations(status: $status, node: $node, before: $before, limit: $limit) { ${ASSIGNATION} }
  }`;

// A long stream's page starts from its newest events (as many as a run keeps, live.js).
export const ASSIGNATION_DETAIL = `
  query Assignation($id: ID!, $last: Int!) {
    assignation(id: $id) {
      id reference status sequence args createdAt updatedAt
      agent { id name instance hostname }
      node { id hash name description kind args { ${PORT} } returns { ${PORT} } ${MODELS} }
      events(last: $last) { ${EVENT} }
    }
  }`;

export const YIELDS_THROUGH = `
  query YieldsThrough($id: ID!, $through: Int!) {
    assignation(id: $id) { id yieldCount(through: $through) }
  }`;

// A run started here outlives the tab: the Assignations page finds it again.
export const ASSIGN = `
  mutation Assign($node: ID!, $args: JSON!, $reference: String) {
    assign(node: $node, args: $args, reference: $reference, detached: true) { ${ASSIGNATION} }
  }`;

// A run on one chosen agent: a reservation of that agent alone, assigned through, then
// ended (the run keeps its agent).
export const RESERVE_AGENT = `
  mutation ReserveAgent($node: ID!, $agent: ID!) { reserve(node: $node, agents: [$agent]) { id } }`;

export const ASSIGN_RESERVED = `
  mutation AssignReserved($reservation: ID!, $args: JSON!, $reference: String) {
    assign(reservation: $reservation, args: $args, reference: $reference, detached: true) { ${ASSIGNATION} }
  }`;

export const CANCEL = `
  mutation Cancel($assignation: ID!) { cancel(assignation: $assignation) { id status } }`;

export const WATCH_EVENTS = `
  subscription WatchEvents($assignation: ID!, $after: Int) {
    watchAssignationEvents(assignation: $assignation, after: $after) { ${EVENT} }
  }`;

const DEPLOYMENT = `
  id app status message restarts updatedAt
  release { id version }
  host { id name status }`;

export const DEPLOYMENTS = `
  query Deployments {
    deployments { ${DEPLOYMENT} }
    releases { id app version functions { interface } }
    hosts { id name status }
  }`;

export const WATCH_DEPLOYMENTS = `subscription WatchDeployments { watchDeployments { ${DEPLOYMENT} } }`;

export const DEPLOY = `
  mutation Deploy($release: ID!, $host: ID!) { deploy(release: $release, host: $host) { ${DEPLOYMENT} } }`;

export const UNDEPLOY = `
  mutation Undeploy($deployment: ID!, $force: Boolean = false) { undeploy(deployment: $deployment, force: $force) { ${DEPLOYMENT} } }`;

const RESERVATION = `
  id status strategy minInstances liveInstances createdAt
  node { id name }
  agents { id name instance hostname }`;

export const RESERVATIONS = `query Reservations { reservations { ${RESERVATION} } }`;

export const WATCH_RESERVATIONS = `subscription WatchReservations { watchReservations { ${RESERVATION} } }`;

export const UNRESERVE = `
  mutation Unreserve($reservation: ID!) { unreserve(reservation: $reservation) { ${RESERVATION} } }`;
