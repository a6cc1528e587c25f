"""Password change from the settings page: current + new password, other sessions signed out
(issue 17)."""

from __future__ import annotations

from tests.web.browsing import PASSWORD, Web, sign_up, submit, text_of

NEW_PASSWORD = "a brand new passphrase"
EMAIL = "owner@example.com"


async def _sign_in(web: Web, password: str) -> int:
    async with web.client() as browser:
        response = await submit(
            browser, "/signin", "/signin", {"email": EMAIL, "password": password}
        )
        return response.status_code


async def test_password_change_keeps_this_browser_and_signs_out_the_others(web: Web) -> None:
    async with web.client() as here, web.client() as elsewhere:
        await sign_up(here, email=EMAIL)
        signed_in = await submit(
            elsewhere, "/signin", "/signin", {"email": EMAIL, "password": PASSWORD}
        )
        assert signed_in.status_code == 303
        assert (await elsewhere.get("/settings")).status_code == 200

        page = (await here.get("/settings")).text
        assert 'autocomplete="current-password"' in page
        assert 'autocomplete="new-password"' in page
        changed = await submit(
            here,
            "/settings",
            "/settings/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/settings?done=password_changed"
        done = await here.get(changed.headers["location"])
        assert done.status_code == 200  # this browser stays signed in
        assert "Your password was changed" in text_of(done.text)

        revoked = await elsewhere.get("/settings")
        assert revoked.status_code == 303
        assert revoked.headers["location"].startswith("/signin")

    assert await _sign_in(web, PASSWORD) == 401
    assert await _sign_in(web, NEW_PASSWORD) == 303


async def test_bad_password_changes_say_why_and_change_nothing(web: Web) -> None:
    async with web.client() as here:
        await sign_up(here, email=EMAIL)
        wrong = await submit(
            here,
            "/settings",
            "/settings/password",
            {"current_password": "not my password", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 422
        assert "The current password is wrong" in text_of(wrong.text)
        assert "not my password" not in wrong.text  # passwords are never echoed back
        assert NEW_PASSWORD not in wrong.text

        short = await submit(
            here,
            "/settings",
            "/settings/password",
            {"current_password": PASSWORD, "new_password": "short"},
        )
        assert short.status_code == 422
        assert 'id="password-new_password-error"' in short.text

        same = await submit(
            here,
            "/settings",
            "/settings/password",
            {"current_password": PASSWORD, "new_password": PASSWORD},
        )
        assert same.status_code == 422
        assert "must differ from the current one" in text_of(same.text)

    assert await _sign_in(web, PASSWORD) == 303
    assert await _sign_in(web, NEW_PASSWORD) == 401
