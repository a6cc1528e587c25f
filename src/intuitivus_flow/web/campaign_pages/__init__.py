"""Campaigns in the web UI, one module per part of the pages: the list with the create form
(`listing`), one campaign's page with its status, settings, audience, run and conversion
forms (`detail`), the step editor (`steps`), creatives as fields with their previews
(`creatives`) and report upload (`reports`). `page` renders the
campaign page for all of them; `forms` holds the posted forms as models.

Actions follow post/redirect/get; failures re-render the page with the message next to the
field it is about.
"""

from __future__ import annotations

from fastapi import APIRouter

from intuitivus_flow.web.campaign_pages import creatives, detail, listing, reports, steps

router = APIRouter(include_in_schema=False)
for part in (listing, detail, steps, creatives, reports):
    router.include_router(part.router)
