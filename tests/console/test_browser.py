"""The console in a real browser: Debian's Chromium driven by Playwright.

Screenshots of the main pages land in docs/screenshots/ (used by the README).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.console import workflows as console_workflows
from tests.console.conftest import PASSWORD
from workflows_app.models import Instance
from workflows_app.sdk import get_workflow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The README's screenshots are refreshed with `make screenshots`; otherwise the
# tests still take them, into a scratch folder, so the tree stays clean.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "workflows-screenshots"
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Outside CI a machine without chromium skips these with this reason; CI
    # installs chromium, and there a missing browser fails instead.
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between browser steps are still plain sync code (Django's
    # documented escape hatch for exactly this case).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser, live_server, account, member):
    """A signed-in page for an operator-and-approver (an admin of the test account)."""
    member("ada", "admin")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    # Anything the Content-Security-Policy blocks (an inline style htmx injects, an
    # eval'd trigger filter) shows up as a console error: none may.
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Instances by workflow")).to_be_visible()
    yield page
    context.close()
    assert violations == []


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _wait_until_created(instance_id: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not Instance.objects.filter(instance_id=instance_id).exists():
        assert time.monotonic() < deadline, f"instance {instance_id} was never created"
        time.sleep(0.05)


def _review(account, id_):
    return get_workflow("code-review", account=account).create(
        id=id_, params={"repo": "acme/api", "number": 7, "title": "Fix", "author": "bob"}
    )


def test_sign_in_and_filter_the_list_keeps_filters_in_the_url(page, account):
    _review(account, "pr-open")
    _review(account, "pr-dead").terminate()
    _shot(page, "overview")

    page.get_by_role("link", name="Instances").first.click()
    page.get_by_label("terminated").check()

    expect(page).to_have_url(
        f"/a/{account.pk}/instances/?workflow=&status=terminated&created_from=&created_to=&q="
    )
    expect(page.locator("table.instances")).to_contain_text("pr-dead")
    expect(page.locator("table.instances")).not_to_contain_text("pr-open")
    page.reload()  # a pushed URL renders the same result on a hard refresh
    expect(page.locator("table.instances")).not_to_contain_text("pr-open")
    _shot(page, "instances")


def test_running_instance_page_shows_the_step_complete_without_reloading(page, account):
    runner = threading.Thread(
        target=get_workflow("console-gated", account=account).create, kwargs={"id": "live-one"}
    )
    runner.start()
    _wait_until_created("live-one")  # the runner thread commits it; no 404 race
    page.goto(f"/a/{account.pk}/workflows/console-gated/instances/live-one/")
    expect(page.locator("#instance-status")).to_contain_text("running")
    page.evaluate("window.notReloaded = true")
    page.locator("#step-details-do-prepare-1 summary").click()  # an expanded row stays open

    console_workflows.gate.set()
    runner.join(timeout=10)

    expect(page.locator("#instance-status")).to_contain_text("complete", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#step-details-do-prepare-1")).to_have_attribute("open", "")
    expect(page.locator("#announcer")).to_have_text("Instance is now complete")


def test_paused_live_updates_stop_polling_until_resumed(page, account):
    runner = threading.Thread(
        target=get_workflow("console-gated", account=account).create, kwargs={"id": "paused"}
    )
    runner.start()
    _wait_until_created("paused")
    page.goto(f"/a/{account.pk}/workflows/console-gated/instances/paused/")
    expect(page.locator("#instance-status")).to_contain_text("running")
    polls: list[str] = []
    page.on(
        "request", lambda request: polls.append(request.url) if "paused" in request.url else None
    )

    page.get_by_label("Pause live updates").check()
    console_workflows.gate.set()
    runner.join(timeout=10)
    page.wait_for_timeout(2_500)  # more than two poll intervals (CONSOLE_POLL_SECONDS=1)

    assert polls == []
    expect(page.locator("#instance-status")).to_contain_text("running")
    page.get_by_label("Pause live updates").uncheck()
    expect(page.locator("#instance-status")).to_contain_text("complete", timeout=10_000)


def test_approve_a_pending_prompt_and_watch_the_instance_complete(page, account):
    instance = _review(account, "pr-7")

    page.get_by_role("link", name="Approvals").click()
    _shot(page, "approvals")
    prompt = page.locator("li.prompt", has_text="pr-7").filter(has_text="review-decision")
    prompt.get_by_label("Comment (optional)").fill("ship it")
    prompt.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("status")).to_contain_text("Approved code-review/pr-7")
    page.goto(f"/a/{account.pk}/workflows/code-review/instances/pr-7/")
    expect(page.locator("#instance-status")).to_contain_text("complete")
    _shot(page, "instance-detail")
    assert instance.status()["output"]["by"] == "ada"


def test_bulk_terminate_selected_rows(page, account):
    for n in range(3):
        _review(account, f"pr-{n}")
    page.goto(f"/a/{account.pk}/instances/")

    page.get_by_label("Select instance pr-0").check()
    page.get_by_label("Select instance pr-2").check()
    page.get_by_text("Bulk action…").click()
    page.locator("#bulk-action").select_option("terminate")
    page.get_by_label("Reason").fill("spam")
    page.get_by_label("I confirm this bulk action").check()
    page.get_by_role("button", name="Apply", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("Terminate: 2 instance(s)")
    assert dict(Instance.objects.values_list("instance_id", "status")) == {
        "pr-0": "terminated",
        "pr-1": "waiting",
        "pr-2": "terminated",
    }


def test_keyboard_path_through_the_approvals_inbox(page, account):
    _review(account, "pr-kb")
    page.goto(f"/a/{account.pk}/approvals/")
    comment = page.locator("li.prompt", has_text="review-decision").get_by_label(
        "Comment (optional)"
    )

    comment.focus()
    page.keyboard.type("rejected from the keyboard")
    page.keyboard.press("Tab")  # Approve
    page.keyboard.press("Tab")  # Reject
    expect(page.locator(":focus")).to_have_text("Reject")
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("Rejected code-review/pr-kb")
    expect(page.locator("li.prompt", has_text="review-decision")).to_have_count(0)


def test_hostile_output_is_inert_in_the_browser(page, account):
    get_workflow("console-hostile", account=account).create(id="evil")

    page.goto(f"/a/{account.pk}/workflows/console-hostile/instances/evil/")
    page.locator("li.step summary").first.click()

    expect(page.locator("#live")).to_contain_text("<script>window.pwned = true</script>")
    assert page.evaluate("window.pwned === undefined") is True


def test_actions_work_with_javascript_off(browser, live_server, account, member):
    member("otto", "operator")
    _review(account, "pr-nojs")
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("otto")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"/a/{account.pk}/workflows/code-review/instances/pr-nojs/")
    page.get_by_text("Pause…").click()
    page.get_by_label("Reason", exact=True).first.fill("investigating")
    page.get_by_role("button", name="Confirm pause").click()

    expect(page.locator("#instance-status")).to_contain_text("paused")
    context.close()


def test_usage_page_of_the_seeded_demo_account(browser, live_server):
    from django.core.management import call_command

    from workflows_app.management.commands.seed_demo import DEMO_ACCOUNT_ID, DEMO_USER

    call_command("seed_demo")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(DEMO_USER[0])
    page.get_by_label("Password").fill(DEMO_USER[1])
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/a/{DEMO_ACCOUNT_ID}/")

    page.get_by_role("link", name="Usage & billing").click()

    expect(page.get_by_role("heading", name="Usage & billing", level=1)).to_be_visible()
    today = page.evaluate("new Date().toISOString().slice(0, 10)")
    past_days = int(today[8:]) - 1  # the seed's history covers every earlier day
    for chart in ("cpu", "invocations", "storage"):
        svg = page.locator(f"#chart-{chart} svg")
        expect(svg).to_have_attribute("role", "img")
        heights = svg.locator("rect.bar").evaluate_all(
            "bars => bars.map(b => parseFloat(b.getAttribute('height')))"
        )
        assert sum(1 for h in heights if h > 0) >= past_days
    expect(page.locator("#statement-cpu")).to_contain_text("per million ms")
    expect(page.locator("#statement-total")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    expect(page.locator("#cpu-vs-wall")).to_contain_text("You paid for")
    _shot(page, "usage")

    page.get_by_role("link", name=re.compile("^← ")).click()  # the previous period
    bars = page.locator("#chart-cpu rect.bar")
    expect(bars).not_to_have_count(0)
    assert bars.count() >= 28
    context.close()


def test_the_api_docs_render_under_the_content_security_policy(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto("/client/v4/docs")

    expect(page.get_by_text("Workflows for Django").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    context.close()
    assert violations == []


def test_the_admin_works_under_the_content_security_policy(browser, live_server, account):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", password=PASSWORD)
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto("/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto("/admin/auth/user/")
    expect(page.locator("#changelist")).to_be_visible()
    context.close()
    assert violations == []
