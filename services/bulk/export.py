"""« Exporter »: the selected orders as a CSV for a French spreadsheet, and one ZIP holding each
order's dossier archive (``dossier-<N°>.zip``, the very archive « Télécharger le dossier »
gives). Both are written by the worker under ``<instance>/bulk/<job>/`` and renamed into place
once complete, so a download never gets half a file.

The requesters typed those names: adapters.spreadsheet_csv writes them, never as a formula.
"""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import workflow
from adapters.spreadsheet_csv import BOM, SafeWriter
from formatting import paris_date
from models import BulkJob, Operator, Order, OperatorScope

COLUMNS = ("N°", "Date", "Prénom", "Nom", "SIREN", "Raison sociale", "Portail", "Processus",
           "Phase", "Sous-état", "Type", "Pris en charge par")
ZIP64_FROM = 2**31  # members this large are written with ZIP64 sizes from the start


def folder(app, job: BulkJob) -> Path:
    return Path(app.config["INSTANCE_PATH"]) / "bulk" / str(job.id)


def csv_name(job: BulkJob) -> str:
    return f"commandes-selection-{job.id}.csv"


def zip_name(job: BulkJob) -> str:
    return f"dossiers-selection-{job.id}.zip"


def csv_path(app, job: BulkJob) -> Path:
    return folder(app, job) / csv_name(job)


def zip_path(app, job: BulkJob) -> Path:
    return folder(app, job) / zip_name(job)


def row(order: dict) -> list:
    """One line of the CSV, from a row of Order.listing."""
    return [order["number"], paris_date(order["created_at"]), order["holder_first_name"],
            order["holder_last_name"], workflow.format_siren(order["siren"]),
            order["company_name"], order["portal_name"],
            workflow.label(workflow.PROCESSES, order["process"]),
            workflow.label(workflow.PHASES, order["phase"]),
            workflow.label(workflow.SUBSTATES, order["substate"]), order["order_type"],
            order["handler_name"] or ""]


class ExportFiles:
    """The two files of one export, open while the worker fills them."""

    def __init__(self, app, job: BulkJob, scope: OperatorScope):
        self.app, self.job, self.scope = app, job, scope
        self.csv_final, self.zip_final = csv_path(app, job), zip_path(app, job)
        self.csv_part = self.csv_final.with_suffix(".csv.part")
        self.zip_part = self.zip_final.with_suffix(".zip.part")
        self.csv_file = open(self.csv_part, "w", encoding="utf-8", newline="")
        self.csv_file.write(BOM)
        self.writer = SafeWriter(self.csv_file)
        self.writer.writerow(COLUMNS)
        self.archive = zipfile.ZipFile(self.zip_part, "w", compression=zipfile.ZIP_STORED,
                                       allowZip64=True)

    @classmethod
    def open(cls, app, job: BulkJob, operator: Operator) -> "ExportFiles":
        """Starts both files afresh (a job taken over after a crash writes them again)."""
        target = folder(app, job)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        return cls(app, job, OperatorScope(operator))

    def add(self, planned: list[tuple[Order, object]], keep_alive=lambda: True) -> None:
        """The CSV lines and dossier archives of a committed batch, in the selection's order.
        A dossier may weigh gigabytes: the runner's lease is renewed after each one."""
        from services.bulk.actions import LostJob

        if not planned:
            return
        ids = [order.id for order, _ in planned]
        listed = {line["id"]: line for line in
                  Order.listing(self.scope).where(Order.id.in_(ids)).dicts()}
        for order, plan in planned:
            if order.id in listed:
                self.writer.writerow(row(listed[order.id]))
            with self.archive.open(f"dossier-{order.number}.zip", "w",
                                   force_zip64=plan.length >= ZIP64_FROM) as member:
                for chunk in plan.stream():
                    member.write(chunk)
            if not keep_alive():
                raise LostJob()

    def close(self) -> None:
        self.csv_file.close()
        self.archive.close()
        self.csv_part.replace(self.csv_final)
        self.zip_part.replace(self.zip_final)

    def discard(self, remove: bool = True) -> None:
        for handle in (self.csv_file, self.archive):
            try:
                handle.close()
            except (OSError, ValueError):
                pass
        if remove:
            shutil.rmtree(folder(self.app, self.job), ignore_errors=True)


def sizes(app, job: BulkJob) -> dict[str, int | None]:
    """The finished files' sizes (None when absent: not an export, or removed since)."""
    return {name: (path.stat().st_size if path.is_file() else None)
            for name, path in (("csv", csv_path(app, job)), ("zip", zip_path(app, job)))}

