"""The controls of one stop rule in the explorer: a dropdown, its sliders, its markers.

A slider shows a rule parameter at a round step, and the rule gets exactly the value the
slider shows, so the rule's text never says ``threshold=0.506104`` beside a slider at 0.51.
Sliders get room: a wide track (a few pixels per step) and a label column wide enough for
the longest parameter name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from workbench import stopping
from workbench.explore.replay import summary
from workbench.views import marks
from workbench.views.plots import epochs_of


def tunable_rules() -> dict:
    """Rule classes from `stopping.RULES` that have sliders (numeric parameters)."""
    return {name: cls for name, cls in stopping.RULES.items() if cls.params()}


def default_rule(cls, history: Mapping):
    """`cls` built from its slider defaults, a threshold placed inside the data's range."""
    rule = cls(**{name: p.default for name, p in cls.params().items()})
    try:
        adapted = rule.params_for(history)
    except KeyError:
        return rule
    return rule.replace(**{name: round_to(p.default, p) for name, p in adapted.items()})


def nice_step(step: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is at most `step`.

    >>> nice_step(0.00506), nice_step(0.1), nice_step(3.0)
    (0.005, 0.1, 2.0)
    """
    if step <= 0 or not math.isfinite(step):
        return 0.001
    power = 10.0 ** math.floor(math.log10(step))
    return max(m for m in (1, 2, 5) if m * power <= step * (1 + 1e-9)) * power


def digits(step: float, value: float = 0.0) -> int:
    """Decimals a slider shows: enough for its step and for the rule's own value (up to 6).

    >>> digits(0.005), digits(0.1, 0.25), digits(1.0)
    (3, 2, 0)
    """
    places = max(0, -math.floor(math.log10(step))) if step > 0 else 3
    while places < 6 and abs(round(value, places) - value) > 1e-12:
        places += 1
    return places


def round_to(value, param) -> float:
    """`value` on the slider grid of `param` (ints stay ints)."""
    if param.kind == "int":
        return int(round(value))
    step = nice_step(param.step)
    return round(round(value / step) * step, digits(step))


def rule_text(rule, places: Mapping | None = None) -> str:
    """``Patience(patience=5, min_delta=0.000, start_from_epoch=0)``: the slider parameters,
    each with the decimals its slider shows.

    >>> rule_text(stopping.Threshold(0.51), {"threshold": 2})
    'Threshold(threshold=0.51)'
    """
    names = type(rule).params() if hasattr(type(rule), "params") else {}
    places = places or {}
    args = ", ".join(
        f"{k}={getattr(rule, k)}" if k not in places else f"{k}={getattr(rule, k):.{places[k]}f}"
        for k in names
        if hasattr(rule, k)
    )
    return f"{type(rule).__name__}({args})" if names else repr(rule)


class NoSlider(KeyError):
    """A slider the rule now tuned does not have; says which rule the dropdown picked."""

    def __str__(self) -> str:  # KeyError would print only repr(args[0])
        name, rule, have = self.args
        return (
            f"no slider {name!r}: the explorer now tunes {rule} (picked in its dropdown), "
            f"whose sliders are {', '.join(have) or 'none'}; pick the rule with {name!r} "
            f"first, e.g. explorer.dropdown.value = 'Patience'"
        )


class Sliders(dict):
    """Slider name -> slider, with a clear error for a name the current rule lacks."""

    def __init__(self, rule: str):
        super().__init__()
        self.rule = rule

    def __missing__(self, name):
        raise NoSlider(name, self.rule, list(self))


class Slot:
    """One rule being tuned: a dropdown, its sliders, its markers and its latest summary.

    Parameters
    ----------
    explorer : Explorer
        The owner: its ``history``, ``test_metric`` and ``update()`` are used.
    rule : stop rule
    color : str
        Hex colour of the rule's markers and numbers.
    """

    def __init__(self, explorer, rule, color: str):
        import ipywidgets as W

        self.explorer, self.rule, self.color = explorer, rule, color
        self.result, self.summary, self.note, self.error = None, None, "", ""
        self.lines, self.dot, self.places, self.tables = [], None, {}, {}
        names = list(tunable_rules())
        kind = type(rule).__name__
        self.dropdown = W.Dropdown(
            options=names if kind in names else [kind, *names], value=kind,
            layout=W.Layout(width="14em"),
        )  # fmt: skip
        self.dropdown.observe(self._pick_rule, "value")
        # a slot grows to share the row, wraps below the other when the output is narrow
        self.box = W.VBox(
            layout=W.Layout(
                border=f"2px solid {color}", padding="4px", margin="2px",
                flex="1 1 30em", min_width="28em", max_width="48em",
            )
        )  # fmt: skip
        self._build_sliders()

    def _build_sliders(self) -> None:
        import ipywidgets as W

        from workbench.views.widgets import close_all

        close_all(*getattr(self, "sliders", {}).values())  # the last rule's: closed, not left open
        self.sliders, self.places = Sliders(type(self.rule).__name__), {}
        history = self.explorer.history
        try:
            params = self.rule.params_for(history)
        except KeyError:
            params = self.rule.params()
        n = len(epochs_of(history))
        label = f"{0.62 * max(map(len, params), default=4) + 1.5:.1f}em"  # fits the longest name
        for name, p in params.items():
            value = getattr(self.rule, name, p.default)
            if p.kind == "int":
                # an epoch count above the run's length never fires: keep the steps wide
                high = max(min(p.high, n), p.low + 1, value)
                slider = W.IntSlider(value=value, min=min(p.low, value), max=high, step=1)
            else:
                step = nice_step(p.step)
                self.places[name] = digits(step, value)
                low = min(math.floor(p.low / step) * step, value)
                high = max(math.ceil(p.high / step) * step, value)
                slider = W.FloatSlider(
                    value=value, min=low, max=high, step=step,
                    readout_format=f".{self.places[name]}f",
                )  # fmt: skip
            slider.description, slider.tooltip = name, p.doc
            slider.style.description_width = label
            slider.layout.width = "98%"
            slider.observe(self._move, "value")
            self.sliders[name] = slider
        self.box.children = [self.dropdown, *self.sliders.values()]
        self.tables = {}

    def values(self, name: str) -> list:
        """Every value slider `name` can take, as the rule receives it."""
        slider = self.sliders[name]
        if name not in self.places:
            return list(range(slider.min, slider.max + 1, slider.step))
        n = round((slider.max - slider.min) / slider.step)
        return [round(slider.min + k * slider.step, self.places[name]) for k in range(n + 1)]

    def fill_tables(self) -> None:
        """Where the rule stops at each value of each slider (the others held): what the page
        draws from while a slider is dragged. Kept tables are still right; others are made."""
        curve = self.explorer.curves.get(getattr(self.rule, "monitor", None))
        for name in self.sliders:
            if name not in self.tables:
                self.tables[name] = marks.table(
                    self.rule, name, self.values(name), self.explorer.history, curve
                )

    @property
    def text(self) -> str:
        """The rule as its sliders show it."""
        return rule_text(self.rule, self.places)

    def _pick_rule(self, change) -> None:
        cls = tunable_rules().get(change["new"])
        if cls is None:
            return
        self.rule = default_rule(cls, self.explorer.history)
        self._build_sliders()
        self.explorer._draw_curves()  # the monitored curve may differ (RelativeChange: train)

    def _move(self, change) -> None:
        name = next(k for k, s in self.sliders.items() if s is change["owner"])
        value = change["new"]
        if name in self.places:  # FloatSlider values carry float noise: 0.51000000000000001
            value = round(value, self.places[name])
        try:
            self.rule, self.error = self.rule.replace(**{name: value}), ""
        except (TypeError, ValueError) as error:
            self.error = f"{name}: {error}"
        # the moved slider's table still holds (the others did not move); theirs do not
        self.tables = {name: self.tables[name]} if name in self.tables else {}
        self.explorer.update()

    def make_markers(self, axes) -> None:
        """Animated artists: blitted onto the saved background, never drawn with the curves."""
        self.lines = [ax.axvline(1, color=self.color, lw=2, animated=True) for ax in axes]
        (self.dot,) = axes[0].plot([], [], "o", color=self.color, ms=7, animated=True)

    def replay(self) -> None:
        """Replay the rule over the explorer's run and move the markers there."""
        history, self.note = self.explorer.history, self.error
        try:
            self.summary = summary(  # explore checked the runs once, when it opened
                history, self.rule, test_metric=self.explorer.test_metric, checked=True
            )
        except KeyError as error:  # the rule watches a metric this run did not record
            self.summary, self.result = None, None
            self.note = str(error)
        else:
            self.result = self.rule(history)
            if self.result is not None and not self.error:
                self.note = f"{type(self.rule).__name__}: {self.result.reason}"
        stop = self.summary and self.summary["stop_epoch"]
        for line in self.lines:
            line.set_visible(bool(stop))
            line.set_xdata([stop or 1, stop or 1])
        curve = self.explorer.curves.get(self.summary["monitor"]) if self.summary else None
        self.dot.set_visible(bool(stop) and curve is not None and curve.axes is self.dot.axes)
        if self.dot.get_visible():
            self.dot.set_data([stop], [self.summary["value"]])


__all__ = [
    "NoSlider",
    "Slot",
    "default_rule",
    "digits",
    "nice_step",
    "round_to",
    "rule_text",
    "tunable_rules",
]
