// Market: the order book, an order form with validation and an escrow / cost preview, my orders with cancel,
// auto-trade settings and the market account, and the clearing history. Orders go from the wallet.
import { type Address, encodeFunctionData } from "viem";
import { api } from "../api";
import {
  type Balances,
  type ChainOrder,
  contract,
  currentInterval,
  escrowOf,
  readAllowance,
  readBalances,
  readIntervalBand,
  readOrdersOf,
  readTariffs,
  type Tariffs,
} from "../chain";
import { config } from "../config";
import { append, h, replace } from "../dom";
import {
  decimalHint,
  energy,
  energyColumn,
  euro,
  intervalSpan,
  parseEuro,
  parseKwhToWh,
  price,
  PRICE_DECIMALS,
  toDecimalText,
  tooPrecise,
} from "../format";
import { type MessageKey, t } from "../i18n";
import { type BookLevel, type LiveIntervalSettled, type LiveOrderBook, onLive } from "../live";
import type { Cleanup } from "../router";
import { signedInHousehold, state } from "../store";
import { card, empty, field, fill, formMessage, table } from "../ui/parts";
import {
  type BandInForce,
  type BandsOver,
  bandOfInterval,
  bandsOf,
  bandsOfIntervals,
  bandTag,
  limitOutsideBand,
  namedBand,
  type TariffWeek,
  tariffWeeks,
} from "../ui/tariffWeek";
import { describeError } from "../wallet/errors";
import { sendTransaction } from "../wallet/wallet";
import { catchUpBanner } from "./dashboard";

type Side = "bid" | "ask";

export interface OrderInput {
  side: Side;
  amountText: string;
  priceText: string;
  intervalsText: string;
}
export interface ValidOrder {
  side: Side;
  amountWh: bigint;
  limitPrice: bigint;
  intervals: bigint;
  escrow: bigint;
  valueAtLimit: bigint;
}

const MAX_INTERVALS = 10_000n;

/** Check an order as typed; a message (in words) for the first problem, or the order in base units. The limit is
 * checked against `band`, the band of the window's first interval (what placeOrder checks), when it is known, and
 * else against the bounds in force now (`tariffs`). */
export function validateOrder(
  input: OrderInput,
  tariffs: Tariffs,
  balances: Balances | null,
  band: BandInForce | null = null,
): ValidOrder | { error: string } {
  if (tooPrecise(input.amountText, 3)) return { error: t("market.invalid.amountPrecision") };
  const amountWh = parseKwhToWh(input.amountText);
  if (amountWh === null || amountWh <= 0n) return { error: t("market.invalid.amount") };
  // Limit prices on the market's tick (0.001 €/kWh, docs/mechanisms.md): the clearing price always is.
  if (tooPrecise(input.priceText, PRICE_DECIMALS)) return { error: t("market.invalid.pricePrecision") };
  const limitPrice = parseEuro(input.priceText);
  if (limitPrice === null || limitPrice <= 0n) return { error: t("market.invalid.price") };
  const outside = band ? limitOutsideBand(limitPrice, band) : null;
  if (outside) return { error: outside };
  if (!band && limitPrice > tariffs.retailPrice) {
    return {
      error: t("market.invalid.priceAboveRetail", {
        price: price(limitPrice),
        retail: price(tariffs.retailPrice),
      }),
    };
  }
  if (!band && limitPrice < tariffs.feedInPrice) {
    return {
      error: t("market.invalid.priceBelowFeedIn", {
        price: price(limitPrice),
        feedIn: price(tariffs.feedInPrice),
      }),
    };
  }
  const intervals = /^\d+$/.test(input.intervalsText.trim()) ? BigInt(input.intervalsText.trim()) : 0n;
  if (intervals < 1n || intervals > MAX_INTERVALS) return { error: t("market.invalid.window") };
  const escrow = escrowOf(input.side, amountWh, limitPrice);
  if (balances) {
    const held = input.side === "bid" ? balances.walletEuro : balances.energyWh;
    if (escrow > held) {
      return {
        error:
          input.side === "bid"
            ? t("market.invalid.balanceBid", { held: euro(held), needed: euro(escrow) })
            : t("market.invalid.balanceAsk", { held: energy(held), needed: energy(escrow) }),
      };
    }
  }
  return {
    side: input.side,
    amountWh,
    limitPrice,
    intervals,
    escrow,
    valueAtLimit: (amountWh * limitPrice) / 1000n,
  };
}

function bookTable(book: LiveOrderBook): HTMLElement {
  if (!book.bids.length && !book.asks.length) return empty(t("market.noBook"));
  const amount = energyColumn([...book.bids, ...book.asks].map((level) => level.amountWh));
  const side = (title: string, levels: BookLevel[], testId: string) =>
    h(
      "div",
      null,
      h("h3", null, title),
      levels.length
        ? table(
            [t("common.price"), t("common.amount"), ""],
            levels.map((level) => [
              price(level.price),
              amount(level.amountWh),
              t(level.orders === 1 ? "market.levelOne" : "market.level", { orders: level.orders }),
            ]),
            testId,
          )
        : empty(t("market.noBook")),
    );
  return h(
    "div.grid-2.book",
    { dataset: { testid: "book" } },
    side(t("market.bids"), book.bids, "book-bids"),
    side(t("market.asks"), book.asks, "book-asks"),
  );
}

function orderForm(owner: Address, params: Record<string, string>, onPlaced: () => void): HTMLElement {
  const message = formMessage();
  const preview = h("p.preview", { dataset: { testid: "order-preview" } });
  const initialSide: Side = params.side === "bid" ? "bid" : "ask";
  const sideInputs = (["ask", "bid"] as Side[]).map((side) =>
    h("input", {
      type: "radio",
      name: "side",
      value: side,
      checked: side === initialSide,
      dataset: { testid: `side-${side}` },
    }),
  );
  const amount = h("input", {
    name: "amount",
    inputMode: "decimal",
    autocomplete: "off",
    placeholder: decimalHint(0.5, 3),
    value: params.amountWh ? toDecimalText(BigInt(params.amountWh), 3) : "",
    dataset: { testid: "order-amount" },
  });
  const limit = h("input", {
    name: "price",
    inputMode: "decimal",
    autocomplete: "off",
    placeholder: decimalHint(0.12, PRICE_DECIMALS),
    value: params.price ? toDecimalText(BigInt(params.price)) : "",
    dataset: { testid: "order-price" },
  });
  // A suggested order (from the household page) names its window; otherwise it starts now.
  const suggestedFrom = /^\d+$/.test(params.validFrom ?? "") ? BigInt(params.validFrom) : null;
  const suggestedTo = /^\d+$/.test(params.validTo ?? "") ? BigInt(params.validTo) : null;
  const span =
    suggestedFrom !== null && suggestedTo !== null && suggestedTo >= suggestedFrom
      ? suggestedTo - suggestedFrom + 1n
      : 4n;
  const intervals = h("input", {
    name: "intervals",
    inputMode: "numeric",
    value: span.toString(),
    dataset: { testid: "order-intervals" },
  });
  const submit = h("button", { type: "submit", dataset: { testid: "place-order" } }, t("market.place"));
  const tariffsNote = h("small.hint");
  // The bands of the intervals the order covers, from GET /api/tariffs/week (ui/tariffWeek.ts).
  const bandsNote = h("div.hint.order-bands", { dataset: { testid: "order-bands" } });
  let tariffs: Tariffs | null = null;
  let balances: Balances | null = null;
  let weeks: TariffWeek[] = [];
  // The first interval's band as the registry answers it (bandOf, priceBounds): what placeOrder checks.
  let chainBand: { intervalId: number; band: BandInForce } | null = null;
  const seconds = config().intervalSeconds;

  // Where the window starts if placed now: the suggested start while it is ahead, else this interval.
  const estimatedStart = (): number => {
    const now = Math.floor(Date.now() / 1000 / seconds);
    return suggestedFrom !== null && Number(suggestedFrom) > now ? Number(suggestedFrom) : now;
  };
  const windowLength = (): number => {
    const n = Number(intervals.value.trim());
    return Number.isInteger(n) && n >= 1 && n <= Number(MAX_INTERVALS) ? n : 1;
  };
  const firstBand = (start: number = estimatedStart()): BandInForce | null =>
    chainBand?.intervalId === start ? chainBand.band : bandOfInterval(weeks, start, seconds);
  const showBands = (over: BandsOver) => {
    const count = (n: number) => (n === 1 ? t("tariff.oneInterval") : t("tariff.intervals", { count: n }));
    replace(
      bandsNote,
      h(
        "ul.plain",
        null,
        over.bands.map((band, i) =>
          h("li", null, bandTag(band, i === 0 ? "order-band" : undefined), ` · ${count(band.intervals)}`),
        ),
        over.unknown ? h("li", null, t("tariff.unknownBand", { count: over.unknown })) : null,
      ),
      over.bands.length > 1 ? h("small", null, t("tariff.orderBands")) : null,
    );
  };
  /** Fetch the weeks the window needs (cached) and the first interval's band from the registry, then show the
   * window's bands; false when they are not known. */
  const loadBands = async (start: number = estimatedStart()): Promise<boolean> => {
    const end = start + windowLength() - 1;
    try {
      weeks = await tariffWeeks(start * seconds, (end + 1) * seconds - 1);
    } catch {
      replace(bandsNote); // the week is unavailable: the note of the bounds in force now stays
      return false;
    }
    if (chainBand?.intervalId !== start) {
      try {
        chainBand = { intervalId: start, band: namedBand(weeks, await readIntervalBand(BigInt(start))) };
      } catch {
        chainBand = null; // the node did not answer: the week's band, if it knows it
      }
    }
    const over = bandsOfIntervals(weeks, start, end, seconds, firstBand(start));
    showBands(over);
    tariffsNote.hidden = over.bands.length > 0;
    return over.bands.length > 0;
  };

  const input = (): OrderInput => ({
    side: (sideInputs.find((radio) => radio.checked)?.value ?? "ask") as Side,
    amountText: amount.value,
    priceText: limit.value,
    intervalsText: intervals.value,
  });
  const showPreview = () => {
    if (!tariffs) return;
    void loadBands().then((known) => known && tariffs && showCheck());
    showCheck();
  };
  const showCheck = () => {
    if (!tariffs) return;
    const checked = validateOrder(input(), tariffs, balances, firstBand());
    if ("error" in checked) {
      preview.textContent = "";
      return;
    }
    preview.textContent =
      checked.side === "ask"
        ? t("market.previewAsk", { amount: energy(checked.amountWh), value: euro(checked.valueAtLimit) })
        : t("market.previewBid", { escrow: euro(checked.escrow), value: euro(checked.valueAtLimit) });
  };
  Promise.all([readTariffs(), readBalances(owner)])
    .then(([loadedTariffs, loadedBalances]) => {
      tariffs = loadedTariffs;
      balances = loadedBalances;
      tariffsNote.textContent = t("market.tariffs", {
        feedIn: price(tariffs.feedInPrice),
        retail: price(tariffs.retailPrice),
      });
      if (!limit.value)
        limit.value = toDecimalText(((tariffs.feedInPrice + tariffs.retailPrice) / 2000n) * 1000n);
      showPreview();
    })
    .catch((error) => message.show(describeError(error)));

  const form = h(
    "form.order-form",
    { novalidate: true, dataset: { testid: "order-form" } },
    h(
      "div.segmented",
      { role: "radiogroup" },
      sideInputs.map((radio, i) =>
        h("label", null, radio, i === 0 ? t("market.sideAsk") : t("market.sideBid")),
      ),
    ),
    field(t("market.amountKwh"), amount),
    field(t("market.priceEurKwh"), limit, undefined),
    tariffsNote,
    bandsNote,
    field(
      t("market.validIntervals"),
      intervals,
      t("market.validHint", { minutes: Math.round((config().intervalSeconds / 60) * 10) / 10 }),
    ),
    preview,
    message.element,
    submit,
  );
  form.addEventListener("input", () => {
    message.clear();
    showPreview();
  });
  const submitOrder = async (event: Event) => {
    event.preventDefault();
    message.clear();
    if (!tariffs) return;
    const checked = validateOrder(input(), tariffs, balances, firstBand());
    if ("error" in checked) {
      message.show(checked.error);
      return;
    }
    submit.disabled = true;
    try {
      const token = checked.side === "bid" ? "Euro" : "EnergyToken";
      const startAt = async () => {
        const now = await currentInterval();
        return suggestedFrom !== null && suggestedFrom > now ? suggestedFrom : now;
      };
      // The limit against the band of the window's first interval, as placeOrder checks it: before the server's
      // preview and before anything is signed. Nothing is refused here when the band cannot be known.
      const outsideBand = async (start: bigint): Promise<string | null> => {
        await loadBands(Number(start));
        const band = firstBand(Number(start));
        return band ? limitOutsideBand(checked.limitPrice, band) : null;
      };
      const from = await startAt();
      const refused = await outsideBand(from);
      if (refused) {
        message.show(refused);
        return;
      }
      const to = from + checked.intervals - 1n;
      // The server checks it too (tariffs, window, wallet balance) before anything is signed.
      await api("/api/market/orders/preview", {
        body: {
          side: checked.side,
          limitPrice: Number(checked.limitPrice),
          amountWh: Number(checked.amountWh),
          validFrom: Number(from),
          validTo: Number(to),
        },
      });
      const market = contract("EnergyMarket");
      if ((await readAllowance(token, owner)) < checked.escrow) {
        const asset = contract(token);
        await sendTransaction(t("market.approve"), {
          to: asset.address,
          data: encodeFunctionData({
            abi: asset.abi,
            functionName: "approve",
            args: [market.address, checked.escrow],
          }),
        });
      }
      const start = await startAt(); // the window may have moved while the approval was signed
      const moved = start === from ? null : await outsideBand(start);
      if (moved) {
        message.show(moved);
        return;
      }
      await sendTransaction(t("market.placeTx"), {
        to: market.address,
        data: encodeFunctionData({
          abi: market.abi,
          functionName: "placeOrder",
          args: [
            checked.side === "bid" ? 0 : 1,
            checked.limitPrice,
            checked.amountWh,
            start,
            start + checked.intervals - 1n,
          ],
        }),
      });
      message.show(t("market.placed"), "success");
      amount.value = "";
      balances = await readBalances(owner);
      onPlaced();
    } catch (error) {
      message.show(describeError(error));
    } finally {
      submit.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => void submitOrder(event));
  return form;
}

function myOrdersTable(orders: ChainOrder[], now: bigint, onChange: () => void): HTMLElement {
  if (!orders.length) return empty(t("market.noOrders"));
  const market = contract("EnergyMarket");
  return table(
    [t("common.side"), t("common.price"), t("common.amount"), t("common.interval"), t("common.status"), ""],
    orders.map((order) => {
      const expired = order.validTo < now;
      const status: MessageKey = !order.open ? "market.closed" : expired ? "market.expired" : "market.open";
      const cancel = order.open
        ? h(
            "button.secondary.small",
            {
              type: "button",
              dataset: { testid: `cancel-${order.orderId}` },
              onclick: async (event: Event) => {
                (event.target as HTMLButtonElement).disabled = true;
                try {
                  await sendTransaction(t("market.cancelTx", { id: order.orderId.toString() }), {
                    to: market.address,
                    data: encodeFunctionData({
                      abi: market.abi,
                      functionName: "cancelOrder",
                      args: [order.orderId],
                    }),
                  });
                  onChange();
                } catch {
                  (event.target as HTMLButtonElement).disabled = false;
                }
              },
            },
            t("market.cancel"),
          )
        : null;
      return [
        `${order.side === "bid" ? t("common.bid") : t("common.ask")} #${order.orderId}`,
        price(order.limitPrice),
        t("market.filled", { filled: energy(order.filledWh), amount: energy(order.amountWh) }),
        h(
          "span",
          {
            title: t("market.validRange", { from: order.validFrom.toString(), to: order.validTo.toString() }),
          },
          intervalSpan(Number(order.validFrom), Number(order.validTo), config().intervalSeconds),
        ),
        h("span", { dataset: { status: status.split(".")[1] } }, t(status)),
        cancel,
      ];
    }),
    "my-orders",
  );
}

function autoTrade(owner: Address, onChange: () => void): HTMLElement {
  const message = formMessage();
  const market = contract("EnergyMarket");
  const euroToken = contract("Euro");
  const sell = h("input", {
    inputMode: "decimal",
    placeholder: decimalHint(0.08, PRICE_DECIMALS),
    dataset: { testid: "auto-sell" },
  });
  const buy = h("input", {
    inputMode: "decimal",
    placeholder: decimalHint(0.15, PRICE_DECIMALS),
    dataset: { testid: "auto-buy" },
  });
  const deposit = h("input", {
    inputMode: "decimal",
    placeholder: "10",
    dataset: { testid: "deposit-amount" },
  });
  let tariffs: Tariffs | null = null;
  void readTariffs().then((loaded) => {
    tariffs = loaded;
  });
  void readBalances(owner).then((balances) => {
    sell.value = balances.autoSellPrice ? toDecimalText(balances.autoSellPrice) : "";
    buy.value = balances.autoBuyPrice ? toDecimalText(balances.autoBuyPrice) : "";
  });

  const setAuto = async (side: "sell" | "buy") => {
    message.clear();
    const text = (side === "sell" ? sell : buy).value.trim();
    const limit = text === "" ? 0n : parseEuro(text);
    if (tooPrecise(text, PRICE_DECIMALS)) return message.show(t("market.invalid.pricePrecision"));
    if (limit === null) return message.show(t("market.invalid.price"));
    if (limit !== 0n && tariffs && limit > tariffs.retailPrice) {
      return message.show(
        t("market.invalid.priceAboveRetail", { price: price(limit), retail: price(tariffs.retailPrice) }),
      );
    }
    if (limit !== 0n && tariffs && limit < tariffs.feedInPrice) {
      return message.show(
        t("market.invalid.priceBelowFeedIn", { price: price(limit), feedIn: price(tariffs.feedInPrice) }),
      );
    }
    try {
      await sendTransaction(t(side === "sell" ? "market.autoSellTx" : "market.autoBuyTx"), {
        to: market.address,
        data: encodeFunctionData({
          abi: market.abi,
          functionName: side === "sell" ? "setAutoSell" : "setAutoBuy",
          args: [limit],
        }),
      });
      onChange();
    } catch (error) {
      message.show(describeError(error));
    }
  };
  const move = async (direction: "deposit" | "withdraw") => {
    message.clear();
    const amount = parseEuro(deposit.value);
    if (amount === null || amount <= 0n) return message.show(t("market.invalid.deposit"));
    try {
      if (direction === "deposit" && (await readAllowance("Euro", owner)) < amount) {
        await sendTransaction(t("market.approve"), {
          to: euroToken.address,
          data: encodeFunctionData({
            abi: euroToken.abi,
            functionName: "approve",
            args: [market.address, amount],
          }),
        });
      }
      await sendTransaction(t(direction === "deposit" ? "market.depositTx" : "market.withdrawTx"), {
        to: market.address,
        data: encodeFunctionData({ abi: market.abi, functionName: direction, args: [amount] }),
      });
      deposit.value = "";
      onChange();
    } catch (error) {
      message.show(describeError(error));
    }
  };
  return h(
    "div.auto-trade",
    null,
    h("p.note", null, t("market.autoNote")),
    h(
      "div.inline-form",
      null,
      field(t("market.autoSellPrice"), sell),
      h("button.secondary", { type: "button", onclick: () => void setAuto("sell") }, t("market.setAutoSell")),
    ),
    h(
      "div.inline-form",
      null,
      field(t("market.autoBuyPrice"), buy),
      h("button.secondary", { type: "button", onclick: () => void setAuto("buy") }, t("market.setAutoBuy")),
    ),
    h("h3", null, t("market.deposit")),
    h(
      "div.inline-form",
      null,
      field(t("market.depositAmount"), deposit),
      h(
        "button.secondary",
        { type: "button", dataset: { testid: "deposit" }, onclick: () => void move("deposit") },
        t("market.depositTx"),
      ),
      h("button.link", { type: "button", onclick: () => void move("withdraw") }, t("market.withdraw")),
    ),
    message.element,
  );
}

export function marketPage(root: HTMLElement, params: Record<string, string>): Cleanup {
  const stops: (() => void)[] = [];
  const bookBox = h("div");
  const clearingBox = h("div");
  const owner = signedInHousehold();
  const active = Boolean(owner && state.user?.active);
  const ordersBox = h("div");
  replace(root, h("h1", null, t("market.title")), catchUpBanner(stops));

  const refreshOrders = () => {
    if (!owner) return;
    fill(ordersBox, async () => {
      const [orders, now] = await Promise.all([readOrdersOf(owner), currentInterval()]);
      return myOrdersTable(orders, now, refreshAll);
    });
  };
  const refreshBook = fill(bookBox, async () => bookTable(await api<LiveOrderBook>("/api/market/book")));
  const refreshClearing = fill(clearingBox, async () => {
    const { items } = await api<{ items: LiveIntervalSettled[] }>("/api/market/clearing?limit=20");
    if (!items.length) return empty(t("dash.noClearing"));
    // One unit per column (and the same for the three energy columns), so the figures compare at a glance.
    const wh = energyColumn(items.flatMap((item) => [item.tradedWh, item.surplusWh, item.gridImportWh]));
    const bands = await bandsOf(
      items.map((item) => item.intervalId),
      config().intervalSeconds,
    );
    return table(
      [
        t("common.interval"),
        t("common.price"),
        t("tariff.band"),
        t("market.traded"),
        t("common.surplus"),
        t("market.gridImport"),
      ],
      items.map((item, i) => [
        `#${item.intervalId}`,
        item.clearingPrice ? price(item.clearingPrice) : "—",
        bandTag(bands[i]),
        wh(item.tradedWh),
        wh(item.surplusWh),
        wh(item.gridImportWh),
      ]),
      "clearing-table",
    );
  });
  function refreshAll() {
    void refreshBook();
    refreshOrders();
  }

  append(root, [
    h(
      "div.grid-2",
      null,
      card(
        t("market.form"),
        "order",
        owner && active
          ? orderForm(owner, params, refreshAll)
          : h("p.state.empty", { dataset: { testid: "sign-in-to-trade" } }, t("market.signInToTrade")),
      ),
      card(t("market.book"), "book", bookBox),
    ),
    owner
      ? h(
          "div.grid-2",
          null,
          card(t("market.myOrders"), "orders", ordersBox),
          card(t("market.auto"), "auto", autoTrade(owner, refreshAll)),
        )
      : null,
    card(t("market.clearing"), "clearing", clearingBox),
  ]);
  refreshOrders();

  stops.push(onLive("order_book", (book) => replace(bookBox, bookTable(book))));
  stops.push(
    onLive("interval_settled", () => {
      void refreshClearing();
      refreshAll();
    }),
  );
  stops.push(onLive("fill", () => refreshOrders()));
  return () => stops.forEach((stop) => stop());
}
