"""The arkitekt platform server: ariadne over Starlette and uvicorn, SQLAlchemy for state.

Layout: `app` assembles the ASGI application and its lifespan; `schema` binds the SDL in
`schema/` to the resolvers in `resolvers/`; `db` and `tables` hold the durable state, `bus`
the in-process fan-out of changes, `router` the choice of an agent for each assignation.
"""
