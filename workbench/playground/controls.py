"""The playground's buttons and sliders: each one calls the playground's public API.

Play, Pause, Step (one epoch) and Reset; sliders and menus for every setting; a stop-rule
menu whose sliders come from the same ``rule.params()`` the explorer uses. A change made
while the run plays takes effect at the next epoch (the playground queues it). A value the
playground refuses is put back, and its message is shown beside the buttons.
"""

from __future__ import annotations

import html

from workbench import stopping
from workbench.data import problems
from workbench.playground import settings as ps

# Sliders over fixed values, as in TensorFlow Playground: a continuous slider would snap a
# value set in code (lr=0.03 on a log grid becomes 0.0316) and record a change nobody made.
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
NOISES = tuple(round(0.05 * i, 2) for i in range(21))
FRACTIONS = tuple(round(0.05 * i, 2) for i in range(2, 19))
BATCH_SIZES = (1, 2, 4, 8, 16, 25, 32, 50, 64, 100, 128, 256, 500)
WEIGHT_DECAYS = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)
NO_RULE = "no rule"


def rule_classes() -> dict:
    """Stop rules that have sliders, by name (as in the explorer's menu)."""
    return {name: cls for name, cls in stopping.RULES.items() if cls.params()}


class Controls:
    """The buttons (`buttons`) and the settings (`box`) of one playground view.

    `widgets` maps each setting to its control, `rule_sliders` the stop rule's parameters
    to theirs, and `message` shows what was refused. Tests drive them by setting
    ``.value`` and calling ``button.click()``.
    """

    def __init__(self, pg, view):
        import ipywidgets as W

        self.pg, self.view, self._syncing, self.events_shown = pg, view, False, 0
        self.message = W.HTML()
        self.play, self.pause = (
            W.Button(description="Play", icon="play"),
            W.Button(description="Pause", icon="pause"),
        )
        self.step, self.reset = (
            W.Button(description="Step", icon="step-forward"),
            W.Button(description="Reset", icon="refresh"),
        )
        self.play.button_style = "success"
        self.step.tooltip = "train one epoch"
        for button, action in (
            (self.play, pg.play),
            (self.pause, pg.pause),
            (self.step, self._step),
            (self.reset, pg.reset),
        ):
            button.on_click(lambda _, act=action: self._do(act))
        self.buttons = W.HBox([self.play, self.pause, self.step, self.reset, self.message])
        s, short = pg.settings, {"description_width": "7em"}
        # given when made: a style or layout set afterwards replaces one left open
        look = {"style": short, "layout": W.Layout(width="19em")}
        self.widgets = {
            "problem": W.Dropdown(options=problems.PROBLEMS, description="problem", **look),
            "noise": W.SelectionSlider(
                options=_with(NOISES, s["noise"]), description="noise", **look
            ),
            "train_fraction": W.SelectionSlider(
                options=_with(FRACTIONS, s["train_fraction"]), description="train fraction", **look
            ),
            "hidden": W.Text(
                description="hidden", continuous_update=False, placeholder="8, 8", **look
            ),
            "activation": W.Dropdown(options=ps.ACTIVATIONS, description="activation", **look),
            "batch_norm": W.Checkbox(description="batch norm", **look),
            "features": W.SelectMultiple(
                options=problems.FEATURES, rows=3, description="features", **look
            ),
            "opt": W.Dropdown(options=ps.OPTIMIZERS, description="optimizer", **look),
            "lr": W.SelectionSlider(options=_with(LRS, s["lr"]), description="lr", **look),
            "batch_size": W.SelectionSlider(
                options=_with(BATCH_SIZES, s["batch_size"]), description="batch size", **look
            ),
            "weight_decay": W.SelectionSlider(
                options=_with(WEIGHT_DECAYS, s["weight_decay"]), description="weight decay", **look
            ),
        }
        for key, widget in self.widgets.items():
            widget.observe(lambda change, key=key: self._set(key, change["new"]), "value")
        self.rule = W.Dropdown(options=[NO_RULE, *rule_classes()], description="stop rule", **look)
        self.rule.observe(self._pick_rule, "value")
        self.rule_box, self.rule_sliders = W.VBox(), {}
        self.events = W.HTML()
        column = W.VBox
        self.box = W.VBox([
            W.HBox([
                column([self.widgets[k] for k in ("problem", "noise", "train_fraction", "hidden", "activation", "batch_norm")]),
                column([self.widgets[k] for k in ("opt", "lr", "batch_size", "weight_decay", "features")]),
                column([self.rule, self.rule_box]),
            ]),
            self.events,
        ])  # fmt: skip
        self.sync()

    # --- from the widgets ----------------------------------------------------------------
    def _do(self, action) -> None:
        try:
            action()
            self.message.value = ""
        except (RuntimeError, ValueError) as error:
            self._say(error)

    def _step(self) -> None:
        self.pg.pause()
        self.pg.step(1)

    def _set(self, key: str, value) -> None:
        if self._syncing:
            return
        if key == "features":
            value = tuple(value)
        try:
            self.pg.set(**{key: value})
            self.message.value = ""
        except ValueError as error:
            self._say(error)
            self.sync()  # put the refused value back

    def _pick_rule(self, change) -> None:
        if self._syncing:
            return
        cls = rule_classes().get(change["new"])
        rule = None if cls is None else cls(**{n: p.default for n, p in cls.params().items()})
        self._set("stop", rule)

    def _move_rule(self, name: str, value) -> None:
        rule = self.pg.settings["stop"]
        if self._syncing or rule is None:
            return
        try:
            self._set("stop", rule.replace(**{name: value}))
        except (TypeError, ValueError) as error:  # replace checks the new value
            self._say(error)

    def _say(self, error) -> None:
        self.message.value = f"<span style='color:#b00020'>{html.escape(str(error))}</span>"

    # --- to the widgets ------------------------------------------------------------------
    def sync(self) -> None:
        """Show the playground's settings and events (after a reset, a refusal, code)."""
        import ipywidgets as W

        s = self.pg.next_settings  # a change waiting for the next epoch is not undone
        self._syncing = True
        try:
            for key, widget in self.widgets.items():
                value = s[key]
                if isinstance(widget, W.SelectionSlider) and value not in widget.options:
                    widget.options = _with(widget.options, value)
                if widget.value != value:
                    widget.value = value
            self._sync_rule(s["stop"])
        finally:
            self._syncing = False
        self.show_events()

    def show_events(self) -> None:
        """Show the latest events (a slider's change appears once it has taken effect)."""
        events = list(self.pg.history.events)
        self.events_shown = len(events)
        text = html.escape(" · ".join(events[-6:]))
        style = "font-size:90%;color:#444"
        self.events.value = (
            f"<div class='wb-events' data-count='{len(events)}' style='{style}'>events: {text}</div>"
            if events
            else ""
        )

    def _sync_rule(self, rule) -> None:
        import ipywidgets as W

        name = NO_RULE if rule is None else type(rule).__name__
        if name not in self.rule.options:
            self.rule.options = [*self.rule.options, name]
        self.rule.value = name
        params = {} if rule is None else type(rule).params()
        if set(params) != set(self.rule_sliders):
            from workbench.views.widgets import close_all

            close_all(*self.rule_sliders.values())  # another rule's: closed, not left open
            self.rule_sliders = {}
            for p in params.values():
                kind = W.IntSlider if p.kind == "int" else W.FloatSlider
                slider = kind(min=p.low, max=p.high, step=p.step, description=p.name, tooltip=p.doc)
                slider.style.description_width = "7em"
                slider.observe(lambda change, n=p.name: self._move_rule(n, change["new"]), "value")
                self.rule_sliders[p.name] = slider
            self.rule_box.children = list(self.rule_sliders.values())
        for key, slider in self.rule_sliders.items():
            value = getattr(rule, key)
            slider.min, slider.max = min(slider.min, value), max(slider.max, value)
            slider.value = value

    def close(self) -> None:
        """Close every widget of the controls, with their layouts and styles."""
        from workbench.views.widgets import close_all

        close_all(self.buttons, self.box)


def _with(options, value) -> tuple:
    return tuple(sorted({*options, value}))


__all__ = ["Controls", "rule_classes"]
