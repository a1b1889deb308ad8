"""A statement as a PDF in the member's language (fpdf2; core fonts, so Latin-1 text: "EUR", "CO2")."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF

from backend.statements.compose import Statement
from backend.tariffs.bands import interval_start
from backend.tariffs.kpis import percent

TEXT = {
    "en": {
        "title": "Monthly energy statement",
        "household": "Household",
        "month": "Month",
        "tariff": "Tariff version",
        "with": "With the community",
        "without": "Without the community",
        "saving": "Saving thanks to the community",
        "total": "Total",
        "band": "Band",
        "component": "Component",
        "quantity": "Quantity",
        "price": "Price",
        "amount": "Amount (EUR)",
        "kpis": "Key figures",
        "intervals": "Settled intervals and their transactions",
        "interval": "Interval",
        "start": "Start (local)",
        "tx": "Transaction",
        "unbilled": "Intervals settled under a flat tariff (not billed here)",
        "note": "Every line re-derives to the cent from the chain's events, the readings archive and the tariff "
        "file whose hash is on-chain (vatio audit --statements).",
        "components": {
            "grid_import_energy": "Energy from the grid",
            "community_purchases": "Bought in the community",
            "grid_export_credit": "Feed-in credit",
            "community_sales": "Sold in the community",
            "grid_access": "Grid access",
            "grid_charges": "System charges",
            "fixed_power": "Power term",
            "fixed_monthly": "Monthly fixed charge",
            "capacity": "Capacity charge",
            "electricity_tax": "Electricity tax",
            "vat": "VAT",
        },
        "kpi": {
            "consumed_kwh": "Consumption (kWh)",
            "produced_kwh": "Production (kWh)",
            "self_sufficiency": "Self-sufficiency",
            "self_consumption": "Self-consumption",
            "bought_kwh": "Bought in the community (kWh)",
            "sold_kwh": "Sold in the community (kWh)",
            "grid_import_kwh": "Grid import (kWh)",
            "grid_export_kwh": "Grid export (kWh)",
            "peak_import_kw": "Peak 15-minute import (kW)",
            "co2_avoided_kg": "CO2 avoided (kg)",
        },
    },
    "es": {
        "title": "Resumen mensual de energía",
        "household": "Hogar",
        "month": "Mes",
        "tariff": "Versión de tarifa",
        "with": "Con la comunidad",
        "without": "Sin la comunidad",
        "saving": "Ahorro gracias a la comunidad",
        "total": "Total",
        "band": "Periodo",
        "component": "Concepto",
        "quantity": "Cantidad",
        "price": "Precio",
        "amount": "Importe (EUR)",
        "kpis": "Indicadores",
        "intervals": "Intervalos liquidados y sus transacciones",
        "interval": "Intervalo",
        "start": "Inicio (hora local)",
        "tx": "Transacción",
        "unbilled": "Intervalos liquidados con tarifa plana (no facturados aquí)",
        "note": "Cada línea se vuelve a calcular al céntimo a partir de los eventos de la cadena, el archivo de "
        "lecturas y el fichero de tarifa cuyo hash está en la cadena (vatio audit --statements).",
        "components": {
            "grid_import_energy": "Energía de la red",
            "community_purchases": "Comprado en la comunidad",
            "grid_export_credit": "Compensación de excedentes",
            "community_sales": "Vendido en la comunidad",
            "grid_access": "Peajes de acceso",
            "grid_charges": "Cargos del sistema",
            "fixed_power": "Término de potencia",
            "fixed_monthly": "Cargo fijo mensual",
            "capacity": "Cargo por capacidad",
            "electricity_tax": "Impuesto sobre la electricidad",
            "vat": "IVA",
        },
        "kpi": {
            "consumed_kwh": "Consumo (kWh)",
            "produced_kwh": "Producción (kWh)",
            "self_sufficiency": "Autosuficiencia",
            "self_consumption": "Autoconsumo",
            "bought_kwh": "Comprado en la comunidad (kWh)",
            "sold_kwh": "Vendido en la comunidad (kWh)",
            "grid_import_kwh": "Importado de la red (kWh)",
            "grid_export_kwh": "Exportado a la red (kWh)",
            "peak_import_kw": "Pico de importación en 15 minutos (kW)",
            "co2_avoided_kg": "CO2 evitado (kg)",
        },
    },
}
LANGUAGES = tuple(TEXT)


@lru_cache(maxsize=8192)
def _local_start(interval_id: int, interval_seconds: int, zone) -> str:
    """An interval's local start, shared by every member's listing."""
    return f"{interval_start(interval_id, interval_seconds).astimezone(zone):%Y-%m-%d %H:%M}"


def _money(value: Decimal, lang: str) -> str:
    text = f"{value:,.2f}"
    return text.replace(",", "X").replace(".", ",").replace("X", ".") if lang == "es" else text


def render_pdf(statement: Statement, path: Path, lang: str, zone, interval_seconds: int, tariff_name: str = "") -> Path:
    if lang not in TEXT:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    t = TEXT[lang]
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_creator("Vatio")
    pdf.set_title(f"{t['title']} {statement.month}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, t["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, f"{t['household']}: {statement.household}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, f"{t['month']}: {statement.month}", new_x="LMARGIN", new_y="NEXT")
    for version in statement.versions:
        pdf.cell(
            0,
            5,
            f"{t['tariff']} {version.version}: {tariff_name} 0x{version.schedule_hash.hex()}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    for label, value in (
        (t["with"], statement.bill.total),
        (t["without"], statement.without.total),
        (t["saving"], statement.saving),
    ):
        pdf.cell(110, 7, label)
        pdf.cell(40, 7, f"{_money(value, lang)} EUR", align="R", new_x="LMARGIN", new_y="NEXT")

    for section, bill in (("with", statement.bill), ("without", statement.without)):
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 6, t[section], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 8)
        widths = (18, 62, 32, 30, 30)
        for width, head in zip(
            widths, (t["band"], t["component"], t["quantity"], t["price"], t["amount"]), strict=True
        ):
            pdf.cell(width, 5, head, border="B")
        pdf.ln()
        pdf.set_font("Helvetica", "", 8)
        for line in bill.lines:
            quantity = "" if line.quantity is None else f"{line.quantity} {line.unit}"
            price = "" if line.price is None else str(line.price)
            cells = (
                line.band,
                t["components"].get(line.component, line.component),
                quantity,
                price,
                _money(line.amount, lang),
            )
            for width, cell in zip(widths, cells, strict=True):
                pdf.cell(width, 4.5, cell, align="R" if width == 30 else "L")
            pdf.ln()
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(sum(widths[:-1]), 5, t["total"], border="T")
        pdf.cell(widths[-1], 5, _money(bill.total, lang), border="T", align="R", new_x="LMARGIN", new_y="NEXT")

    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, t["kpis"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for name, label in t["kpi"].items():
        value = getattr(statement.kpis, name)
        shown = percent(value) if name in ("self_sufficiency", "self_consumption") else str(value)
        pdf.cell(80, 4.5, label)
        pdf.cell(40, 4.5, shown, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "I", 7)
    pdf.multi_cell(0, 3.5, t["note"], new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, t["intervals"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", "", 5.5)
    # Placed line by line with text() (no layout): a month has about 3,000 intervals.
    y = pdf.get_y() + 3
    for interval_id, *_, tx_hash in statement.energy.listing():
        if y > pdf.h - 12:
            pdf.add_page()
            y = 15.0
        pdf.text(pdf.l_margin, y, f"{interval_id}  {_local_start(interval_id, interval_seconds, zone)}  {tx_hash}")
        y += 2.6
    pdf.set_y(y)
    if statement.skipped:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(0, 5, t["unbilled"], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Courier", "", 5.5)
        pdf.multi_cell(0, 2.6, ", ".join(map(str, statement.skipped)), new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path
