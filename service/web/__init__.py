"""The web dashboard: server-rendered pages over the same plain functions the API calls.

`mount_dashboard` adds the pages, `/static`, sign-in (`/auth/...`) and the session to a node's or
the coordinator's app; `render` renders a page inside the base template.
"""
