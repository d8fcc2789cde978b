"""`arkitekt init NAME`: a new app folder with a commented example, ready to run."""

from __future__ import annotations

import keyword
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from .output import console, fail

# Template file -> the file it becomes; `$module` is the app's module name.
FILES = {
    "app.py.tmpl": "$module.py",
    "test_app.py.tmpl": "test_$module.py",
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
}


def module_name(name: str) -> str:
    """The Python module an app called `name` lives in: `cell-tracking` -> `cell_tracking`."""
    module = re.sub(r"\W+", "_", name).strip("_").lower()
    if module and (module[0].isdigit() or keyword.iskeyword(module)):
        module = f"app_{module}"
    return module


def scaffold(folder: Path) -> list[Path]:
    """Writes a new app into `folder` (which must not exist, or be empty) and returns its files.

    Raises:
        FileExistsError: `folder` holds files already.
        ValueError: The folder's name gives no usable module name.
    """
    from arkitekt import __version__

    name = folder.name
    module = module_name(name)
    if not module:
        raise ValueError(f"{name!r} needs a letter or a digit to name the app's module")
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(folder)
    folder.mkdir(parents=True, exist_ok=True)
    values = {"name": name, "module": module, "version": __version__}
    written = []
    templates = resources.files("arkitekt.cli") / "template"
    for template, target in FILES.items():
        text = Template((templates / template).read_text(encoding="utf-8")).substitute(values)
        path = folder / Template(target).substitute(values)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def init(
    name: Annotated[str, typer.Argument(help="The app's name; also its folder.")],
) -> None:
    """Create a new app folder, ready to run.

    It holds a commented example (a function, a generator and a structure), its tests, a
    pyproject.toml and a README that says how to run it.
    """
    folder = Path(name)
    try:
        files = scaffold(folder)
    except FileExistsError:
        fail(f"{folder} already holds files", "choose another name, or empty the folder")
    except ValueError as error:
        fail(str(error), "choose a name such as cell-tracking")
    module = files[0].name
    console.print(f"[bold green]created[/] {folder}/ with {', '.join(f.name for f in files)}")
    console.print("Next:")
    console.print(f"  cd {folder}")
    console.print(f"  arkitekt dev {module}     [dim]# serves it, reloading on every save[/]")
    console.print("  arkitekt call scale values='[1, 2]'")
