"""Plan comments: summary, grouping, the diff block, and splitting under GitHub's limit."""

from __future__ import annotations

from envctl.github.terraform_markdown import MARKER_RE, PlanView, render_plan, to_diff, units
from envctl.terraform.summary import summarize
from tests.markdown_check import problems

LIMIT = 65_536


def plan_json(n: int, action: list[str] = ["create"]) -> dict[str, object]:  # noqa: B006
    return {"resource_changes": [{"address": f"module.env[\"pr-{i}\"].terraform_data.record[{i}]", "mode": "managed",
                                  "change": {"actions": action}} for i in range(n)]}


def plan_text(n: int) -> str:
    blocks = [f'  # module.env["pr-{i}"].terraform_data.record[{i}] will be created\n'
              f'  + resource "terraform_data" "record" {{\n      + id     = (known after apply)\n'
              f'      + input  = "pr-{i}.preview.example.com. 300 IN CNAME ingress.example.com."\n'
              f'      + output = (known after apply)\n    }}\n' for i in range(n)]
    return "Terraform will perform the following actions:\n\n" + "\n".join(blocks) + f"\nPlan: {n} to add.\n"


def view(n: int, text: str | None = None) -> PlanView:
    return PlanView("preview", "terraform/preview", "default", summarize(plan_json(n)),
                    plan_text(n) if text is None else text, sha="0123456789abcdef")


def test_small_plan_is_one_comment_with_counts_groups_and_a_diff_block() -> None:
    summary = summarize({"resource_changes": [
        {"address": "a.new", "mode": "managed", "change": {"actions": ["create"]}},
        {"address": "a.changed", "mode": "managed", "change": {"actions": ["update"]}},
        {"address": "a.swapped", "mode": "managed", "change": {"actions": ["delete", "create"]}},
        {"address": "a.gone", "mode": "managed", "change": {"actions": ["delete"]}},
        {"address": "a.same", "mode": "managed", "change": {"actions": ["no-op"]}},
        {"address": "data.x.y", "mode": "data", "change": {"actions": ["read"]}},
    ], "output_changes": {"pw": {"actions": ["create"], "after_sensitive": True}}})
    [body] = render_plan(PlanView("app", "infra/app", "default", summary, "  + resource \"x\" {\n  ~ a = 1 -> 2\n"))
    assert body.startswith("<!-- envctl:terraform:plan project=app part=1/1 -->\n### 🟡 Terraform plan: `app`")
    assert "**Plan:** 1 to create, 1 to update, 1 to replace, 1 to delete, 1 unchanged; 1 output changed" in body
    order = [body.index(f"**{t}** (1)") for t in ("Replace", "Delete", "Update in place", "Create")]
    assert order == sorted(order)  # the dangerous ones first
    assert "- `a.swapped`" in body and "- `pw`: create (sensitive)" in body and "a.same" not in body
    assert "<details><summary>Full plan</summary>\n\n```diff\n+   resource \"x\" {\n!   a = 1 -> 2\n```" in body
    assert "/apply app" in body and problems(body) == []


def test_no_changes_says_so_and_offers_no_apply() -> None:
    [body] = render_plan(PlanView("app", ".", "default", summarize({"resource_changes": []}), "No changes."))
    assert "🟢" in body and "No changes" in body and "/apply" not in body


def test_diff_moves_terraform_signs_to_column_zero() -> None:
    text = "  + a\n  - b\n  ~ c\n-/+ d\n      + nested\n    }\n"
    assert to_diff(text) == ["+   a", "-   b", "!   c", "!   d", "+       nested", "    }"]


def test_2000_resources_split_into_valid_comments_under_the_limit() -> None:
    bodies = render_plan(view(2000))  # how fast: python -m benchmarks.tf_render
    assert len(bodies) >= 5
    for number, body in enumerate(bodies, start=1):
        assert units(body) <= LIMIT
        match = MARKER_RE.match(body)
        assert match and (int(match["part"]), int(match["parts"])) == (number, len(bodies))
        assert f"(part {number} of {len(bodies)})" in body.split("\n")[1]
        assert problems(body) == [], f"part {number}: {problems(body)}"
    joined = "".join(bodies)
    for i in (0, 999, 1999):  # every resource is listed and every plan line is kept
        assert f'- `module.env["pr-{i}"].terraform_data.record[{i}]`' in joined
        assert f'+       input  = "pr-{i}.preview.example.com.' in joined
    assert "**Create** (continued):" in joined and "<summary>Full plan (continued)</summary>" in joined


def test_a_split_never_leaves_a_fence_or_details_open_even_with_backticks_and_huge_lines() -> None:
    text = "  + a = <<EOT\n```\nnot a fence of ours\n````\nEOT\n" + ("  + x = \"" + "y" * 90_000 + "\"\n") * 2
    bodies = render_plan(view(10, text))
    assert len(bodies) >= 3
    for body in bodies:
        assert units(body) <= LIMIT and problems(body) == []
        assert "`````diff" in body or "Full plan" not in body  # a fence longer than any backtick run inside


def test_utf16_units_are_counted_not_code_points() -> None:
    text = "  + emoji = \"" + "🔌" * 40_000 + "\"\n"  # 2 UTF-16 units each
    for body in render_plan(view(1, text)):
        assert units(body) <= LIMIT and problems(body) == []


def test_checker_catches_broken_markdown() -> None:
    assert problems("```diff\n+ a\n") != []
    assert problems("<details><summary>x</summary>\n\nbody\n") != []
    assert problems("```\nok\n```\n\n<details><summary>x</summary>\n\nbody\n\n</details>\n") == []


def test_a_failed_plan_shows_the_error_in_a_block() -> None:
    [body] = render_plan(PlanView("app", "infra/app", "default", None, error="Error: bad ```thing```"))
    assert "🔴 Terraform plan failed: `app`" in body and "Error: bad" in body and problems(body) == []
    assert "/plan app" in body
