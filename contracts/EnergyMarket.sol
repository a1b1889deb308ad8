// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ICommunityRegistry} from "./interfaces/ICommunityRegistry.sol";
import {IEnergyMarket} from "./interfaces/IEnergyMarket.sol";
import {IEnergyToken} from "./interfaces/IEnergyToken.sol";

/// @title EnergyMarket
/// @notice Escrowed limit orders and per-interval settlement of a community's
/// metered energy; IEnergyMarket documents the rules it enforces.
/// @dev The market does not look each entry's household up in the registry:
/// that would cost ~3,200 gas per household-interval and protect nothing the
/// oracle could not fake anyway (auditors check entries against the signed
/// readings and the registry).
contract EnergyMarket is IEnergyMarket, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeERC20 for IEnergyToken;
    using SafeCast for uint256;

    struct ChunkTotals {
        uint256 surplusWh; // metered surplus of the entries
        uint256 coveredWh; // deficit covered by bought or held tokens
        uint256 soldWh;
        uint256 boughtWh;
        uint256 gridImportWh; // deficit left for the grid
        uint256 paid; // euros buyers paid
        uint256 received; // euros sellers received
    }

    uint256 private constant WH_PER_KWH = 1000;
    // CommunityRegistry.PRICE_TICK, a constant there too: no call to read it.
    uint256 private constant PRICE_TICK = 1000;

    /// @inheritdoc IEnergyMarket
    uint64 public constant RECLAIM_GRACE_INTERVALS = 96;

    // UPPER_CASE like constants; the getters below keep the ABI names (IEnergyMarket says why).
    ICommunityRegistry private immutable REGISTRY;
    IEnergyToken private immutable ENERGY_TOKEN;
    IERC20 private immutable EURO;
    uint64 private immutable INTERVAL_SECONDS;

    /// @inheritdoc IEnergyMarket
    uint64 public nextOrderId = 1;
    mapping(uint256 orderId => Order) private _orders;
    mapping(address household => Account) private _accounts;
    mapping(uint64 intervalId => IntervalState) private _intervals;

    modifier onlyOracle() {
        if (!REGISTRY.isOracle(msg.sender)) revert MarketNotOracle(msg.sender);
        _;
    }

    modifier onlyActiveHousehold() {
        if (!REGISTRY.isActiveHousehold(msg.sender)) revert MarketNotHousehold(msg.sender);
        _;
    }

    constructor(ICommunityRegistry registry_, IEnergyToken energyToken_, IERC20 euro_) {
        REGISTRY = registry_;
        ENERGY_TOKEN = energyToken_;
        EURO = euro_;
        INTERVAL_SECONDS = registry_.intervalSeconds();
    }

    // ------------------------------------------------------------------
    // Household actions. None of them loops over storage.
    // ------------------------------------------------------------------

    /// @inheritdoc IEnergyMarket
    function placeOrder(Side side, uint256 limitPrice, uint256 amountWh, uint40 validFrom, uint40 validTo)
        external
        nonReentrant
        onlyActiveHousehold
        returns (uint256 orderId)
    {
        if (amountWh == 0) revert MarketZeroAmount();
        uint64 nowInterval = currentInterval();
        if (validFrom > validTo || validFrom < nowInterval) revert MarketInvalidWindow(validFrom, validTo, nowInterval);
        // The limit against the band of the window's first interval; each fill's clearing price is then
        // checked against its own interval's band at settlement.
        _checkPriceWithinBand(limitPrice, validFrom);

        uint256 escrow = side == Side.Bid ? _ceilCost(amountWh, limitPrice) : 0;
        // The new id is the value before the increment (gas-increment-by-one).
        // solhint-disable-next-line gas-increment-by-one
        orderId = nextOrderId++;
        _orders[orderId] = Order({
            owner: msg.sender,
            validFrom: validFrom,
            validTo: validTo,
            side: side,
            open: true,
            amountWh: amountWh.toUint64(),
            filledWh: 0,
            limitPrice: limitPrice.toUint64(),
            escrow: escrow.toUint64()
        });
        emit OrderPlaced(orderId, msg.sender, side, limitPrice, amountWh, validFrom, validTo, escrow);

        if (side == Side.Bid) EURO.safeTransferFrom(msg.sender, address(this), escrow);
        else ENERGY_TOKEN.safeTransferFrom(msg.sender, address(this), amountWh);
    }

    /// @inheritdoc IEnergyMarket
    function cancelOrder(uint256 orderId) external nonReentrant {
        Order storage order = _orders[orderId];
        if (order.owner == address(0)) revert MarketUnknownOrder(orderId);
        if (order.owner != msg.sender) revert MarketNotOrderOwner(orderId, msg.sender);
        _closeAndRefund(orderId, order);
    }

    /// @inheritdoc IEnergyMarket
    function reclaimExpired(uint256 orderId) external nonReentrant {
        Order storage order = _orders[orderId];
        if (order.owner == address(0)) revert MarketUnknownOrder(orderId);
        uint64 nowInterval = currentInterval();
        bool lastIntervalSettled = _intervals[uint64(order.validTo)].closed;
        if (order.validTo >= nowInterval || (!lastIntervalSettled && order.validTo + RECLAIM_GRACE_INTERVALS >= nowInterval))
        {
            revert MarketOrderNotExpired(orderId, order.validTo, nowInterval);
        }
        _closeAndRefund(orderId, order);
    }

    /// @inheritdoc IEnergyMarket
    function setAutoSell(uint256 limitPrice) external onlyActiveHousehold {
        if (limitPrice != 0) _checkPriceWithinTariffs(limitPrice);
        _accounts[msg.sender].autoSellPrice = limitPrice.toUint64();
        emit AutoOrderSet(msg.sender, Side.Ask, limitPrice);
    }

    /// @inheritdoc IEnergyMarket
    function setAutoBuy(uint256 limitPrice) external onlyActiveHousehold {
        if (limitPrice != 0) _checkPriceWithinTariffs(limitPrice);
        _accounts[msg.sender].autoBuyPrice = limitPrice.toUint64();
        emit AutoOrderSet(msg.sender, Side.Bid, limitPrice);
    }

    /// @inheritdoc IEnergyMarket
    function deposit(uint256 amount) external nonReentrant onlyActiveHousehold {
        if (amount == 0) revert MarketZeroAmount();
        Account storage account = _accounts[msg.sender];
        account.balance = (uint256(account.balance) + amount).toUint128();
        emit Deposited(msg.sender, amount);
        EURO.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IEnergyMarket
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert MarketZeroAmount();
        Account storage account = _accounts[msg.sender];
        if (amount > account.balance) revert MarketInsufficientBalance(msg.sender, amount, account.balance);
        account.balance -= uint128(amount);
        emit Withdrawn(msg.sender, amount);
        EURO.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------
    // Settlement (oracle only)
    // ------------------------------------------------------------------

    /// @inheritdoc IEnergyMarket
    function settleInterval(
        uint64 intervalId,
        bytes32 readingsRoot,
        Entry[] calldata entries,
        Fill[] calldata fills,
        uint256 clearingPrice
    ) external nonReentrant onlyOracle {
        IntervalState storage state = _intervals[intervalId];
        if (state.closed || state.chunks != 0) revert MarketIntervalAlreadySettled(intervalId);
        _checkIntervalEnded(intervalId);
        _checkClearingPrice(intervalId, clearingPrice, fills.length);

        // Effects before the token calls in _applyChunk; any failure below reverts them.
        state.readingsRoot = readingsRoot;
        state.clearingPrice = clearingPrice.toUint64();
        state.chunks = 1;
        state.closed = true;

        ChunkTotals memory totals = _applyChunk(intervalId, address(0), entries, fills, clearingPrice);
        _checkConserved(intervalId, totals);
        emit IntervalSettled(
            intervalId,
            readingsRoot,
            clearingPrice,
            totals.surplusWh,
            totals.coveredWh,
            totals.soldWh,
            totals.gridImportWh,
            1
        );
    }

    /// @inheritdoc IEnergyMarket
    function settleChunk(
        uint64 intervalId,
        bytes32 readingsRoot,
        Entry[] calldata entries,
        Fill[] calldata fills,
        uint256 clearingPrice
    ) external nonReentrant onlyOracle {
        IntervalState storage state = _intervals[intervalId];
        if (state.closed) revert MarketIntervalAlreadySettled(intervalId);
        _checkClearingPrice(intervalId, clearingPrice, fills.length);
        if (state.chunks == 0) {
            _checkIntervalEnded(intervalId);
            state.readingsRoot = readingsRoot;
            state.clearingPrice = clearingPrice.toUint64();
        } else if (state.readingsRoot != readingsRoot || state.clearingPrice != clearingPrice) {
            revert MarketChunkMismatch(intervalId, readingsRoot, clearingPrice);
        }

        // The token calls in _applyChunk go only to our EnergyToken (no hooks,
        // cannot call back), and this function is nonReentrant: updating the
        // running totals after it is safe.
        ChunkTotals memory totals = _applyChunk(intervalId, state.lastHousehold, entries, fills, clearingPrice);
        if (entries.length != 0) state.lastHousehold = entries[entries.length - 1].household;
        ++state.chunks;
        state.surplusWh += totals.surplusWh.toUint64();
        state.coveredWh += totals.coveredWh.toUint64();
        state.soldWh += totals.soldWh.toUint64();
        state.boughtWh += totals.boughtWh.toUint64();
        state.gridImportWh += totals.gridImportWh.toUint64();
        emit ChunkSettled(intervalId, state.chunks, entries.length, fills.length);
    }

    /// @inheritdoc IEnergyMarket
    function closeInterval(uint64 intervalId) external onlyOracle {
        IntervalState storage state = _intervals[intervalId];
        if (state.closed) revert MarketIntervalAlreadySettled(intervalId);
        if (state.chunks == 0) revert MarketIntervalNotOpen(intervalId);
        uint256 price = state.clearingPrice;
        // Euros follow from energy at one exact price, so checking Wh suffices here.
        if (state.soldWh != state.boughtWh) {
            revert MarketValueNotConserved(
                intervalId,
                state.soldWh,
                state.boughtWh,
                _cost(state.boughtWh, price),
                _cost(state.soldWh, price)
            );
        }
        state.closed = true;
        emit IntervalSettled(
            intervalId,
            state.readingsRoot,
            price,
            state.surplusWh,
            state.coveredWh,
            state.soldWh,
            state.gridImportWh,
            state.chunks
        );
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @inheritdoc IEnergyMarket
    function registry() external view returns (ICommunityRegistry) {
        return REGISTRY;
    }

    /// @inheritdoc IEnergyMarket
    function energyToken() external view returns (IEnergyToken) {
        return ENERGY_TOKEN;
    }

    /// @inheritdoc IEnergyMarket
    function euro() external view returns (IERC20) {
        return EURO;
    }

    /// @inheritdoc IEnergyMarket
    function intervalSeconds() external view returns (uint64) {
        return INTERVAL_SECONDS;
    }

    /// @inheritdoc IEnergyMarket
    function currentInterval() public view returns (uint64) {
        return uint64(block.timestamp / INTERVAL_SECONDS);
    }

    /// @inheritdoc IEnergyMarket
    function getOrder(uint256 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    /// @inheritdoc IEnergyMarket
    function getAccount(address household) external view returns (Account memory) {
        return _accounts[household];
    }

    /// @inheritdoc IEnergyMarket
    function getInterval(uint64 intervalId) external view returns (IntervalState memory) {
        return _intervals[intervalId];
    }

    /// @inheritdoc IEnergyMarket
    function isSettled(uint64 intervalId) external view returns (bool) {
        return _intervals[intervalId].closed;
    }

    /// @inheritdoc IEnergyMarket
    function verifyLeaf(uint64 intervalId, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = _intervals[intervalId].readingsRoot;
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    // ------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------

    function _applyChunk(
        uint64 intervalId,
        address previous,
        Entry[] calldata entries,
        Fill[] calldata fills,
        uint256 clearingPrice
    ) private returns (ChunkTotals memory totals) {
        // meteredLeft[i]: entry i's surplus not yet auto-sold, or deficit not yet auto-bought
        uint256[] memory meteredLeft = new uint256[](entries.length);
        for (uint256 i = 0; i < entries.length; ++i) {
            Entry calldata entry = entries[i];
            if (entry.household <= previous) revert MarketEntriesNotSorted(i, entry.household, previous);
            previous = entry.household;
            meteredLeft[i] = entry.producedWh > entry.consumedWh
                ? entry.producedWh - entry.consumedWh
                : entry.consumedWh - entry.producedWh;
        }

        uint256 askSoldWh;
        for (uint256 f = 0; f < fills.length; ++f) {
            Fill calldata fill = fills[f];
            if (fill.amountWh == 0) revert MarketZeroFill(f);
            if (fill.orderId == 0) {
                uint256 index = fill.autoEntry;
                if (index >= entries.length) revert MarketAutoEntryOutOfRange(f, index, entries.length);
                uint256 left = meteredLeft[index];
                if (fill.amountWh > left) revert MarketAutoFillExceedsMetered(entries[index].household, fill.amountWh, left);
                meteredLeft[index] = left - fill.amountWh;
                _applyAutoFill(intervalId, entries[index], fill.amountWh, clearingPrice, totals);
            } else if (_applyOrderFill(intervalId, fill, clearingPrice, totals) == Side.Ask) {
                askSoldWh += fill.amountWh;
            }
        }
        // Tokens that resting asks sold leave the market's escrow in one burn;
        // their buyers were minted theirs in _applyOrderFill.
        if (askSoldWh != 0) ENERGY_TOKEN.burn(address(this), askSoldWh);

        for (uint256 i = 0; i < entries.length; ++i) {
            _settleEntry(intervalId, entries[i], meteredLeft[i], totals);
        }
    }

    function _applyAutoFill(uint64 intervalId, Entry calldata entry, uint256 amountWh, uint256 clearingPrice, ChunkTotals memory totals)
        private
    {
        address household = entry.household;
        Account storage account = _accounts[household];
        uint256 value = _cost(amountWh, clearingPrice);
        Side side = entry.producedWh > entry.consumedWh ? Side.Ask : Side.Bid;
        if (side == Side.Ask) {
            uint256 limit = account.autoSellPrice;
            if (limit == 0) revert MarketAutoOrderOff(household, side);
            if (clearingPrice < limit) revert MarketPriceBeyondLimit(0, household, limit, clearingPrice);
            account.balance = (uint256(account.balance) + value).toUint128();
            totals.soldWh += amountWh;
            totals.received += value;
        } else {
            uint256 limit = account.autoBuyPrice;
            if (limit == 0) revert MarketAutoOrderOff(household, side);
            if (clearingPrice > limit) revert MarketPriceBeyondLimit(0, household, limit, clearingPrice);
            uint256 balance = account.balance;
            if (value > balance) revert MarketInsufficientBalance(household, value, balance);
            account.balance = uint128(balance - value);
            totals.boughtWh += amountWh;
            totals.paid += value;
        }
        emit Filled(intervalId, 0, household, side, amountWh, value);
    }

    function _applyOrderFill(uint64 intervalId, Fill calldata fill, uint256 clearingPrice, ChunkTotals memory totals)
        private
        returns (Side side)
    {
        Order storage order = _orders[fill.orderId];
        uint256 value = _cost(fill.amountWh, clearingPrice);
        if (!order.open) revert MarketOrderNotOpen(fill.orderId);
        if (intervalId < order.validFrom || intervalId > order.validTo) {
            revert MarketOrderNotValidInInterval(fill.orderId, intervalId, order.validFrom, order.validTo);
        }
        uint256 remaining = order.amountWh - order.filledWh;
        if (fill.amountWh > remaining) revert MarketFillExceedsOrder(fill.orderId, fill.amountWh, remaining);
        order.filledWh += fill.amountWh;

        side = order.side;
        address owner = order.owner;
        if (side == Side.Bid) {
            if (clearingPrice > order.limitPrice) {
                revert MarketPriceBeyondLimit(fill.orderId, owner, order.limitPrice, clearingPrice);
            }
            if (value > order.escrow) revert MarketFillExceedsEscrow(fill.orderId, value, order.escrow);
            order.escrow -= uint64(value);
            totals.boughtWh += fill.amountWh;
            totals.paid += value;
            ENERGY_TOKEN.mint(owner, fill.amountWh);
        } else {
            if (clearingPrice < order.limitPrice) {
                revert MarketPriceBeyondLimit(fill.orderId, owner, order.limitPrice, clearingPrice);
            }
            Account storage account = _accounts[owner];
            account.balance = (uint256(account.balance) + value).toUint128();
            totals.soldWh += fill.amountWh;
            totals.received += value;
        }
        emit Filled(intervalId, fill.orderId, owner, side, fill.amountWh, value);
    }

    /// @dev After the fills: mint the unsold surplus as credit, or cover the
    /// deficit that auto-buying left with the tokens the household holds.
    function _settleEntry(uint64 intervalId, Entry calldata entry, uint256 meteredLeft, ChunkTotals memory totals)
        private
    {
        address household = entry.household;
        uint256 credited;
        uint256 burned;
        uint256 gridImport;
        if (entry.producedWh > entry.consumedWh) {
            totals.surplusWh += entry.producedWh - entry.consumedWh;
            credited = meteredLeft;
            if (credited != 0) ENERGY_TOKEN.mint(household, credited);
        } else if (entry.consumedWh > entry.producedWh) {
            uint256 deficit = entry.consumedWh - entry.producedWh;
            uint256 held = ENERGY_TOKEN.balanceOf(household);
            burned = held < meteredLeft ? held : meteredLeft;
            if (burned != 0) ENERGY_TOKEN.burn(household, burned);
            gridImport = meteredLeft - burned;
            totals.coveredWh += deficit - gridImport;
            totals.gridImportWh += gridImport;
        }
        emit HouseholdSettled(
            intervalId, household, entry.producedWh, entry.consumedWh, credited, burned, gridImport
        );
    }

    function _closeAndRefund(uint256 orderId, Order storage order) private {
        if (!order.open) revert MarketOrderNotOpen(orderId);
        order.open = false;
        address owner = order.owner;
        uint256 refundEuro;
        uint256 refundWh;
        if (order.side == Side.Bid) {
            refundEuro = order.escrow;
            order.escrow = 0;
        } else {
            refundWh = order.amountWh - order.filledWh;
        }
        emit OrderClosed(orderId, owner, refundEuro, refundWh);
        if (refundEuro != 0) EURO.safeTransfer(owner, refundEuro);
        if (refundWh != 0) ENERGY_TOKEN.safeTransfer(owner, refundWh);
    }

    function _checkIntervalEnded(uint64 intervalId) private view {
        uint64 nowInterval = currentInterval();
        if (intervalId >= nowInterval) revert MarketIntervalNotEnded(intervalId, nowInterval);
    }

    function _checkClearingPrice(uint64 intervalId, uint256 clearingPrice, uint256 fillCount) private view {
        if (fillCount == 0) return;
        if (clearingPrice % PRICE_TICK != 0) revert MarketClearingPriceNotOnTick(clearingPrice, PRICE_TICK);
        _checkPriceWithinBand(clearingPrice, intervalId);
    }

    /// @dev One registry call: the version in force, the interval's band from the calendar, its bounds.
    function _checkPriceWithinBand(uint256 price, uint64 intervalId) private view {
        (uint256 feedIn, uint256 retail) = REGISTRY.priceBounds(intervalId);
        if (price < feedIn || price > retail) revert MarketPriceOutOfBand(price, intervalId, feedIn, retail);
    }

    /// @dev Auto orders span every future interval: their limit must lie in the current version's envelope.
    function _checkPriceWithinTariffs(uint256 price) private view {
        (uint256 feedIn, uint256 retail) = REGISTRY.tariffEnvelope();
        if (price < feedIn || price > retail) revert MarketPriceOutOfTariffs(price, feedIn, retail);
    }

    function _checkConserved(uint64 intervalId, ChunkTotals memory totals) private pure {
        if (totals.soldWh != totals.boughtWh || totals.paid != totals.received) {
            revert MarketValueNotConserved(intervalId, totals.soldWh, totals.boughtWh, totals.paid, totals.received);
        }
    }

    /// @dev Exact for a clearing price on the tick (a multiple of 1000).
    function _cost(uint256 amountWh, uint256 pricePerKwh) private pure returns (uint256) {
        return amountWh * pricePerKwh / WH_PER_KWH;
    }

    function _ceilCost(uint256 amountWh, uint256 pricePerKwh) private pure returns (uint256) {
        return (amountWh * pricePerKwh + WH_PER_KWH - 1) / WH_PER_KWH;
    }
}
