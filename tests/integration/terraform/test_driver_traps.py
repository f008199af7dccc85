"""python-terraform 0.10.1's known traps, each shown on the bare library and closed by envctl's Driver.

Every test runs the real terraform binary. The "bare" half proves the trap is real with this
library version; the Driver half fails if the wrapper stops closing it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from python_terraform import IsFlagged, Terraform, TerraformCommandError

from envctl.terraform.driver import Driver, TerraformFailed
from envctl.terraform.redaction import Redactor

pytestmark = pytest.mark.filterwarnings("ignore:The .warn. method is deprecated:DeprecationWarning")

TOKEN = "corp_Q1w2E3r4T5y6U7i8O9p0"
SECRET = "sensitive-default-8842"


def project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.tf").write_text(f"""
variable "pw" {{
  type      = string
  sensitive = true
  default   = "{SECRET}"
}}
resource "terraform_data" "x" {{
  input = var.pw
}}
""")
    return root


def driver(root: Path, tmp: Path) -> Driver:
    return Driver(root, tmp / "tfdata", Redactor([r"corp_[A-Za-z0-9]{20}"]))


def test_trap1_saved_plan_apply_gets_a_var_file(tmp_path: Path, tf_env: Path) -> None:
    # A plan made with the variables of its time; the apply runs later, from another process whose
    # Terraform object has other defaults. A saved plan carries its own values, but python-terraform
    # adds the object's variables as a -var-file anyway: terraform < 1.10 refuses any variable with a
    # saved plan, >= 1.10 refuses values that differ from the plan's.
    bare_dir = project(tmp_path / "bare")
    planner = Terraform(working_dir=str(bare_dir), variables={"pw": "at-plan-time"})
    assert planner.init()[0] == 0
    assert planner.plan(out="p.tfplan")[0] == 2
    applier = Terraform(working_dir=str(bare_dir), variables={"pw": "at-apply-time"})
    argv = applier.generate_cmd_string("apply", "p.tfplan", **applier._generate_default_options({}))
    assert any(a.startswith("-var-file=") for a in argv)
    code, _, err = applier.apply("p.tfplan")
    assert code == 1 and ("saved plan" in err.lower() or "variable" in err.lower()), err

    ours = driver(project(tmp_path / "ours"), tmp_path)
    ours.init()
    assert ours.plan(tmp_path / "p.tfplan") is True
    assert "Apply complete! Resources: 1 added" in ours.apply(tmp_path / "p.tfplan")


def test_trap2_destroy_passes_the_removed_force_flag(tmp_path: Path, tf_env: Path) -> None:
    bare_dir = project(tmp_path / "bare")
    bare = Terraform(working_dir=str(bare_dir))
    bare.init()
    bare.apply(skip_plan=True, var=None)
    code, _, err = bare.destroy()
    assert code != 0 and "force" in err

    ours = driver(project(tmp_path / "ours"), tmp_path)
    ours.init()
    ours.plan(tmp_path / "p.tfplan")
    ours.apply(tmp_path / "p.tfplan")
    assert "Destroy complete! Resources: 1 destroyed" in ours.destroy()


def test_trap3_detailed_exitcode_2_is_changes_not_failure(tmp_path: Path, tf_env: Path) -> None:
    bare = Terraform(working_dir=str(project(tmp_path / "bare")))
    bare.init()
    with pytest.raises(TerraformCommandError) as raised:
        bare.plan(out="p.tfplan", raise_on_error=True)
    assert raised.value.returncode == 2  # a successful plan with changes, reported as an error

    ours = driver(project(tmp_path / "ours"), tmp_path)
    ours.init()
    assert ours.plan(tmp_path / "p.tfplan") is True
    ours.apply(tmp_path / "p.tfplan")
    assert ours.plan(tmp_path / "p2.tfplan") is False  # no changes: exit code 0


def test_trap4_stderr_is_logged_unredacted(tmp_path: Path, tf_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.tf").write_text(f'resource "terraform_data" "x" {{\n  input = "{TOKEN}" + 1\n}}\n')
    caplog.set_level(logging.DEBUG)
    library_logger = logging.getLogger("python_terraform")
    library_logger.disabled = False
    try:
        bare = Terraform(working_dir=str(broken))
        bare.init()
        bare.plan()
        assert TOKEN in caplog.text  # the library logged terraform's stderr, secret and all
    finally:
        library_logger.disabled = True
    caplog.clear()

    ours = driver(broken, tmp_path)
    ours.init()
    with pytest.raises(TerraformFailed) as failed:
        ours.plan(tmp_path / "p.tfplan")
    assert TOKEN not in caplog.text and TOKEN not in failed.value.message
    assert "***" in failed.value.message and "Invalid operand" in failed.value.message


def with_module(root: Path) -> Path:
    project(root)
    (root / "mod").mkdir()
    (root / "mod" / "main.tf").write_text('resource "terraform_data" "m" {}\n')
    (root / "uses.tf").write_text('module "m" {\n  source = "./mod"\n}\n')
    return root


def test_trap5_every_project_gets_its_own_tf_data_dir(tmp_path: Path, tf_env: Path) -> None:
    bare_dir = with_module(tmp_path / "bare")
    Terraform(working_dir=str(bare_dir)).init()
    assert (bare_dir / ".terraform" / "modules").is_dir()  # the bare library cannot take a per-call environment

    ours_dir = with_module(tmp_path / "ours")
    first, second = (Driver(ours_dir, tmp_path / name, Redactor()) for name in ("one", "two"))
    first.init()
    second.init()
    assert not (ours_dir / ".terraform").exists()
    assert (tmp_path / "one" / "modules" / "modules.json").exists()
    assert (tmp_path / "two" / "modules" / "modules.json").exists()


def test_trap6_the_library_parses_the_state_and_its_secrets_after_every_command(tmp_path: Path, tf_env: Path) -> None:
    bare = Terraform(working_dir=str(project(tmp_path / "bare")))
    bare.init()
    bare.apply(skip_plan=True, var=None)
    assert SECRET in repr(bare.tfstate.__dict__)  # the whole state, secrets included, kept in memory

    ours = driver(project(tmp_path / "ours"), tmp_path)
    ours.init()
    ours.plan(tmp_path / "p.tfplan")
    ours.apply(tmp_path / "p.tfplan")
    assert ours.tf.tfstate is None
    assert [name for name, _ in ours.timings.commands] == ["init", "plan", "apply"]


def test_a_hung_terraform_is_stopped(tmp_path: Path, tf_env: Path) -> None:
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "main.tf").write_text('resource "terraform_data" "x" {\n  provisioner "local-exec" {\n'
                                  '    command = "sleep 30"\n  }\n}\n')
    ours = Driver(slow, tmp_path / "tfdata", Redactor(), timeout_s=3)
    ours.init()
    ours.plan(tmp_path / "p.tfplan")
    from envctl.errors import Timeout

    with pytest.raises(Timeout, match="did not finish within 3s"):
        ours.apply(tmp_path / "p.tfplan")
    assert IsFlagged  # the library's flag type is what the wrapper passes through
