"""The alert rules dialog: list, add and remove per-endpoint alert thresholds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from eventdesk.connectors.alerts import (
    HEALTH_ORDER,
    RULE_LABELS,
    SEVERITIES,
    AlertRule,
    RuleKind,
    save_rules,
)
from eventdesk.connectors.errors import EventdeskError
from eventdesk.connectors.health import HealthState
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

ANY = "(any)"
_DEFAULT_THRESHOLDS = {
    RuleKind.DLQ_DEPTH: 100.0,
    RuleKind.DLQ_GROWTH: 10.0,
    RuleKind.LAG: 1000.0,
    RuleKind.LAG_SECONDS: 60.0,
}


class AlertRulesDialog(QDialog):
    """Edits a copy of the rules; OK saves them to alerts.json and emits `rules_saved`."""

    rules_saved = Signal(list)

    def __init__(
        self,
        rules: Iterable[AlertRule],
        *,
        connections: Iterable[str] = (),
        connection: str = "",
        endpoint: str = "",
        path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alert rules")
        self.setModal(True)
        self.resize(640, 460)
        self._path = path

        self.rules_list = QListWidget(self)
        self.rules_list.setToolTip("Untick a rule to pause it without removing it")
        for rule in rules:
            self._append(rule)

        self.kind_combo = QComboBox(self)
        for kind, label in RULE_LABELS.items():
            self.kind_combo.addItem(label, kind)
        self.kind_combo.currentIndexChanged.connect(self._on_kind_combo_current_index_changed)
        self.connection_combo = QComboBox(self)
        self.connection_combo.setEditable(True)
        self.connection_combo.addItems([ANY, *connections])
        self.connection_combo.setCurrentText(connection or ANY)
        self.endpoint_edit = QLineEdit(endpoint, self)
        self.endpoint_edit.setPlaceholderText("any endpoint")
        self.group_edit = QLineEdit(self)
        self.group_edit.setPlaceholderText("any consumer group")
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setRange(0.0, 1e12)
        self.threshold_spin.setDecimals(1)
        self.health_combo = QComboBox(self)
        for state in HEALTH_ORDER[1:]:
            self.health_combo.addItem(f"{state.value.upper()} or worse", state)
        self.health_combo.setCurrentIndex(HEALTH_ORDER.index(HealthState.STALLED) - 1)
        self.severity_combo = QComboBox(self)
        self.severity_combo.addItems(list(SEVERITIES))
        self.severity_combo.setCurrentText("warning")
        self.add_button = QPushButton("Add rule", self)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.error_label = QLabel(self)
        self.error_label.setStyleSheet("color: #b71c1c;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        form = QFormLayout()
        form.addRow("Alert on", self.kind_combo)
        form.addRow("Connection", self.connection_combo)
        form.addRow("Endpoint", self.endpoint_edit)
        form.addRow("Consumer group", self.group_edit)
        form.addRow("Threshold", self.threshold_spin)
        form.addRow("Health", self.health_combo)
        form.addRow("Severity", self.severity_combo)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.add_button)
        buttons_row.addWidget(self.remove_button)
        buttons_row.addStretch(1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Rules (one alert per crossing, one recovery per fall):", self))
        layout.addWidget(self.rules_list, 1)
        layout.addLayout(buttons_row)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._on_kind_combo_current_index_changed()

    def rules(self) -> list[AlertRule]:
        rules = []
        for row in range(self.rules_list.count()):
            item = self.rules_list.item(row)
            rule: AlertRule = item.data(Qt.ItemDataRole.UserRole)
            enabled = item.checkState() is Qt.CheckState.Checked
            rules.append(rule if rule.enabled == enabled else replace(rule, enabled=enabled))
        return rules

    def rule_from_form(self) -> AlertRule:
        """The rule the form describes; raises ConfigurationError when it is not valid."""
        connection = self.connection_combo.currentText().strip()
        kind = RuleKind(self.kind_combo.currentData())
        return AlertRule(
            kind=kind,
            connection="" if connection == ANY else connection,
            endpoint=self.endpoint_edit.text().strip(),
            group=self.group_edit.text().strip(),
            threshold=0.0 if kind is RuleKind.HEALTH else self.threshold_spin.value(),
            health=self.health_combo.currentData(),
            severity=self.severity_combo.currentText(),
        )

    def _append(self, rule: AlertRule) -> None:
        item = QListWidgetItem(rule.describe())
        item.setData(Qt.ItemDataRole.UserRole, rule)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if rule.enabled else Qt.CheckState.Unchecked)
        self.rules_list.addItem(item)

    def _show_error(self, exc: EventdeskError) -> None:
        self.error_label.setText(f"{exc}\n{exc.hint}".strip())
        self.error_label.show()

    # -- handlers ----------------------------------------------------------------------

    def _on_kind_combo_current_index_changed(self, *_args: object) -> None:
        kind = RuleKind(self.kind_combo.currentData())
        numeric = kind is not RuleKind.HEALTH
        self.threshold_spin.setEnabled(numeric)
        self.health_combo.setEnabled(not numeric)
        if numeric:
            self.threshold_spin.setValue(_DEFAULT_THRESHOLDS[kind])

    def _on_add_button_clicked(self) -> None:
        try:
            rule = self.rule_from_form()
        except EventdeskError as exc:
            self._show_error(exc)
            return
        self.error_label.hide()
        self._append(rule)

    def _on_remove_button_clicked(self) -> None:
        for item in self.rules_list.selectedItems():
            self.rules_list.takeItem(self.rules_list.row(item))

    def _on_buttons_accepted(self) -> None:
        rules = self.rules()
        try:
            save_rules(rules, self._path)
        except EventdeskError as exc:
            self._show_error(exc)
            return
        self.rules_saved.emit(rules)
        self.accept()
