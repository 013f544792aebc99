"""Page signals: what a page view tells the edge session (product, category, funnel stage, cart, search).

Configured per site in the bundle's `[signals]` table, compiled once:

    [signals]
    stages = ["browse", "product", "cart", "checkout", "purchase"]   # the funnel, in order
    search_params = ["q"]                                             # a search page carries one of these

    [[signals.pages]]
    pattern = '^/products/(?P<product>[^/]+)/'     # named groups `product` and `category` are recorded
    stage = "product"
    category = "cameras"                           # a fixed category for every match (optional)

    [[signals.pages]]
    pattern = '^/cart/add/'
    stage = "cart"
    cart_add = "price"                             # query parameter holding the added item's price
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from intentedge.context import RequestContext
from intentedge.session import Session, remember

DEFAULT_STAGES = ("browse", "product", "cart", "checkout", "purchase")


@dataclass(frozen=True)
class PageRule:
    pattern: re.Pattern
    stage: int | None = None
    category: str | None = None
    cart_add: str | None = None    # price query parameter
    purchase: bool = False         # the cart is bought: cleared, purchases + 1
    trial: bool = False


@dataclass(frozen=True)
class Signals:
    stages: tuple[str, ...] = DEFAULT_STAGES
    search_params: tuple[str, ...] = ("q",)
    pages: tuple[PageRule, ...] = ()

    def observe(self, session: Session, context: RequestContext) -> Session:
        """The session after this page view's signals (call after `session.advance`)."""
        changes: dict = {}
        query = context.query
        if any(query.get(param) for param in self.search_params):
            changes["searches"] = session.searches + 1
        page = next((p for p in self.pages if p.pattern.search(context.path)), None)
        if page is not None:
            changes.update(self._page_changes(page, session, context))
        return session.evolve(**changes) if changes else session

    def _page_changes(self, page: PageRule, session: Session, context: RequestContext) -> dict:
        changes: dict = {}
        match = page.pattern.search(context.path)
        groups = match.groupdict()
        category = groups.get("category") or page.category
        if category:
            changes["categories"] = remember(session.categories, category[:64])
        if groups.get("product"):
            changes["products"] = remember(session.products, groups["product"][:64])
        if page.stage is not None and page.stage > session.stage:
            changes["stage"] = page.stage
        if page.trial:
            changes["trial"] = True
        if page.cart_add is not None:
            price = _price(context.query.get(page.cart_add, ""))
            changes["cart_value"] = session.cart_value + price
            changes["cart_items"] = session.cart_items + 1
        if page.purchase and session.cart_items:
            changes.update(cart_value=0.0, cart_items=0, purchases=session.purchases + 1)
        return changes

    def record(self, session: Session, event: dict, products: dict) -> Session:
        """The session after an event the page reported (events/batch.py): the cart, purchases,
        searches and trials change it; views, exposures and clicks do not."""
        kind = event["type"]
        quantity = event.get("quantity", 1)
        product = products.get(event.get("productId", ""), {})
        if kind == "cart_add":
            value = _line_value(event, product, quantity)
            changes = {"cart_value": session.cart_value + value, "cart_items": session.cart_items + quantity,
                       "stage": self._at_least(session.stage, "cart")}
            if event.get("productId"):
                changes["products"] = remember(session.products, event["productId"][:64])
            if isinstance(product.get("category"), str) and product["category"]:
                changes["categories"] = remember(session.categories, product["category"][:64])
            return session.evolve(**changes)
        if kind == "cart_remove":
            value = _line_value(event, product, quantity)
            return session.evolve(cart_value=max(0.0, session.cart_value - value),
                                  cart_items=max(0, session.cart_items - quantity))
        if kind == "purchase":
            return session.evolve(cart_value=0.0, cart_items=0, purchases=session.purchases + 1,
                                  stage=self._at_least(session.stage, "purchase"))
        if kind == "search":
            return session.evolve(searches=session.searches + 1)
        if kind == "trial_start":
            return session.evolve(trial=True, stage=self._at_least(session.stage, "trial"))
        return session

    def _at_least(self, stage: int, name: str) -> int:
        """`stage`, or the named stage if the funnel has it and it is further."""
        return max(stage, self.stages.index(name)) if name in self.stages else stage

    def stage_name(self, index: int) -> str:
        return self.stages[index] if 0 <= index < len(self.stages) else self.stages[0]


def _line_value(event: dict, product: dict, quantity: int) -> float:
    """The line's value as the event gives it, else the catalog price times the quantity."""
    if "value" in event:
        return event["value"]
    return _price(str(product.get("price", 0))) * quantity   # a catalog price may be a number or text


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if 0 <= value < 1e9 else 0.0
