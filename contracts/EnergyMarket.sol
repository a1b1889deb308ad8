// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {CommunityRegistry} from "./CommunityRegistry.sol";
import {EnergyToken} from "./EnergyToken.sol";

/// @title EnergyMarket
/// @notice Escrowed limit orders and per-interval settlement of a community's
/// metered energy.
///
/// The market is the central counterparty of a uniform-price call auction:
/// in each interval every seller delivers energy to the market and every buyer
/// takes it from the market, all at one clearing price. A fill is therefore one
/// order's allocation (order, amount), not a seller-buyer pair, and an interval
/// is valid only when the energy sold equals the energy bought.
///
/// The off-chain solver chooses the economically right price and allocations;
/// this contract checks only what makes a settlement safe: limits, escrow,
/// windows, metered caps, conservation, and that nothing is settled twice.
///
/// Who was metered and how much is the oracle's word, committed to by the
/// readings root; auditors check it against the signed readings and the
/// registry. (A per-entry registry lookup here would cost ~3,200 gas per
/// household-interval and protect nothing the oracle could not fake anyway.)
///
/// Money never leaves the contract during settlement: sellers are credited to
/// their market account and withdraw when they like (pull payments), so a
/// blocklisted or reverting wallet cannot stall the community's settlement.
contract EnergyMarket is ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeERC20 for EnergyToken;
    using SafeCast for uint256;

    enum Side {
        Bid,
        Ask
    }

    /// @dev Two storage slots. Bids escrow euros in `escrow`; asks escrow
    /// `amountWh - filledWh` tokens, held by this contract.
    struct Order {
        address owner;
        uint40 validFrom; // first interval id it may trade in
        uint40 validTo; // last interval id it may trade in
        Side side;
        bool open;
        uint64 amountWh;
        uint64 filledWh;
        uint64 limitPrice; // payment units per kWh
        uint64 escrow; // euros left with a bid; 0 for asks
    }

    /// @dev One slot per household: its euro balance in the market (auto-buy
    /// budget plus sale proceeds) and its standing auto orders (0 = off).
    struct Account {
        uint128 balance;
        uint64 autoSellPrice;
        uint64 autoBuyPrice;
    }

    /// @notice A household's metered energy over one interval, from the
    /// difference of its cumulative registers.
    struct Entry {
        address household;
        uint64 producedWh;
        uint64 consumedWh;
    }

    /// @notice One order's allocation at the clearing price. `orderId == 0`
    /// names the standing auto order of `entries[autoEntry].household`, on the
    /// side its metered net position gives (surplus: auto-sell; deficit:
    /// auto-buy). `autoEntry` is read only for auto fills.
    struct Fill {
        uint64 orderId;
        uint32 autoEntry;
        uint64 amountWh;
    }

    struct IntervalState {
        bytes32 readingsRoot;
        uint64 clearingPrice;
        uint32 chunks;
        bool closed;
        address lastHousehold; // entries must grow strictly across chunks
        // running totals of a chunked settlement
        uint64 surplusWh;
        uint64 coveredWh;
        uint64 soldWh;
        uint64 boughtWh;
        uint64 gridImportWh;
    }

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

    /// @notice How long after its last interval an unsettled order may be
    /// reclaimed by anyone (96 x 15 min = one day at the default interval).
    /// Until then only the interval's settlement or its owner can close it,
    /// so nobody can pull an order out from under a pending settlement.
    uint64 public constant RECLAIM_GRACE_INTERVALS = 96;

    CommunityRegistry public immutable registry;
    EnergyToken public immutable energyToken;
    IERC20 public immutable euro;
    uint64 public immutable intervalSeconds;

    uint64 public nextOrderId = 1;
    mapping(uint256 orderId => Order) private _orders;
    mapping(address household => Account) private _accounts;
    mapping(uint64 intervalId => IntervalState) private _intervals;

    event OrderPlaced(
        uint256 indexed orderId,
        address indexed owner,
        Side side,
        uint256 limitPrice,
        uint256 amountWh,
        uint40 validFrom,
        uint40 validTo,
        uint256 escrow
    );
    event OrderClosed(uint256 indexed orderId, address indexed owner, uint256 refundedEuro, uint256 refundedWh);
    event AutoOrderSet(address indexed household, Side side, uint256 limitPrice);
    event Deposited(address indexed household, uint256 amount);
    event Withdrawn(address indexed household, uint256 amount);
    event Filled(
        uint64 indexed intervalId,
        uint256 indexed orderId,
        address indexed household,
        Side side,
        uint256 amountWh,
        uint256 value
    );
    event HouseholdSettled(
        uint64 indexed intervalId,
        address indexed household,
        uint256 producedWh,
        uint256 consumedWh,
        uint256 creditedWh,
        uint256 burnedWh,
        uint256 gridImportWh
    );
    event ChunkSettled(uint64 indexed intervalId, uint32 chunk, uint256 entries, uint256 fills);
    event IntervalSettled(
        uint64 indexed intervalId,
        bytes32 readingsRoot,
        uint256 clearingPrice,
        uint256 surplusWh,
        uint256 coveredWh,
        uint256 tradedWh,
        uint256 gridImportWh,
        uint32 chunks
    );

    error NotOracle(address caller);
    error NotHousehold(address caller);
    error NotOrderOwner(uint256 orderId, address caller);
    error ZeroAmount();
    error PriceOutOfTariffs(uint256 price, uint256 feedInPrice, uint256 retailPrice);
    error InvalidWindow(uint40 validFrom, uint40 validTo, uint64 currentInterval);
    error UnknownOrder(uint256 orderId);
    error OrderNotOpen(uint256 orderId);
    error OrderNotExpired(uint256 orderId, uint40 validTo, uint64 currentInterval);
    error InsufficientBalance(address household, uint256 requested, uint256 available);
    error IntervalNotEnded(uint64 intervalId, uint64 currentInterval);
    error IntervalAlreadySettled(uint64 intervalId);
    error IntervalNotOpen(uint64 intervalId);
    error ChunkMismatch(uint64 intervalId, bytes32 readingsRoot, uint256 clearingPrice);
    error EntriesNotSorted(uint256 index, address household, address previous);
    error ClearingPriceNotOnTick(uint256 clearingPrice, uint256 tick);
    error ZeroFill(uint256 fillIndex);
    error AutoEntryOutOfRange(uint256 fillIndex, uint256 autoEntry, uint256 entries);
    error AutoOrderOff(address household, Side side);
    error PriceBeyondLimit(uint256 orderId, address household, uint256 limitPrice, uint256 clearingPrice);
    error AutoFillExceedsMetered(address household, uint256 amountWh, uint256 meteredLeftWh);
    error OrderNotValidInInterval(uint256 orderId, uint64 intervalId, uint40 validFrom, uint40 validTo);
    error FillExceedsOrder(uint256 orderId, uint256 amountWh, uint256 remainingWh);
    error FillExceedsEscrow(uint256 orderId, uint256 value, uint256 escrow);
    error ValueNotConserved(uint64 intervalId, uint256 soldWh, uint256 boughtWh, uint256 paid, uint256 received);

    modifier onlyOracle() {
        if (!registry.isOracle(msg.sender)) revert NotOracle(msg.sender);
        _;
    }

    modifier onlyActiveHousehold() {
        if (!registry.isActiveHousehold(msg.sender)) revert NotHousehold(msg.sender);
        _;
    }

    constructor(CommunityRegistry registry_, EnergyToken energyToken_, IERC20 euro_) {
        registry = registry_;
        energyToken = energyToken_;
        euro = euro_;
        intervalSeconds = registry_.intervalSeconds();
    }

    // ------------------------------------------------------------------
    // Household actions. None of them loops over storage.
    // ------------------------------------------------------------------

    /// @notice Places a limit order for the intervals validFrom..validTo.
    /// A bid escrows ceil(amountWh * limitPrice / 1000) euros, an ask escrows
    /// amountWh tokens; both need an ERC-20 approval first.
    function placeOrder(Side side, uint256 limitPrice, uint256 amountWh, uint40 validFrom, uint40 validTo)
        external
        nonReentrant
        onlyActiveHousehold
        returns (uint256 orderId)
    {
        if (amountWh == 0) revert ZeroAmount();
        _checkPriceWithinTariffs(limitPrice);
        uint64 nowInterval = currentInterval();
        if (validFrom > validTo || validFrom < nowInterval) revert InvalidWindow(validFrom, validTo, nowInterval);

        uint256 escrow = side == Side.Bid ? _ceilCost(amountWh, limitPrice) : 0;
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

        if (side == Side.Bid) euro.safeTransferFrom(msg.sender, address(this), escrow);
        else energyToken.safeTransferFrom(msg.sender, address(this), amountWh);
    }

    /// @notice Closes an open order and refunds what it still escrows. A
    /// settlement that was computed with this order before the cancel reverts
    /// with OrderNotOpen, and the oracle clears the interval again without it.
    function cancelOrder(uint256 orderId) external nonReentrant {
        Order storage order = _orders[orderId];
        if (order.owner == address(0)) revert UnknownOrder(orderId);
        if (order.owner != msg.sender) revert NotOrderOwner(orderId, msg.sender);
        _closeAndRefund(orderId, order);
    }

    /// @notice Anyone may return an expired order's escrow to its owner, once
    /// its last interval is settled (or RECLAIM_GRACE_INTERVALS have passed
    /// without a settlement).
    function reclaimExpired(uint256 orderId) external nonReentrant {
        Order storage order = _orders[orderId];
        if (order.owner == address(0)) revert UnknownOrder(orderId);
        uint64 nowInterval = currentInterval();
        bool lastIntervalSettled = _intervals[uint64(order.validTo)].closed;
        if (order.validTo >= nowInterval || (!lastIntervalSettled && order.validTo + RECLAIM_GRACE_INTERVALS >= nowInterval))
        {
            revert OrderNotExpired(orderId, order.validTo, nowInterval);
        }
        _closeAndRefund(orderId, order);
    }

    /// @notice Standing order to sell each interval's own metered surplus at
    /// no less than `limitPrice` per kWh; 0 turns it off.
    function setAutoSell(uint256 limitPrice) external onlyActiveHousehold {
        if (limitPrice != 0) _checkPriceWithinTariffs(limitPrice);
        _accounts[msg.sender].autoSellPrice = limitPrice.toUint64();
        emit AutoOrderSet(msg.sender, Side.Ask, limitPrice);
    }

    /// @notice Standing order to buy each interval's own metered deficit at no
    /// more than `limitPrice` per kWh, paid from the deposited balance; 0 turns it off.
    function setAutoBuy(uint256 limitPrice) external onlyActiveHousehold {
        if (limitPrice != 0) _checkPriceWithinTariffs(limitPrice);
        _accounts[msg.sender].autoBuyPrice = limitPrice.toUint64();
        emit AutoOrderSet(msg.sender, Side.Bid, limitPrice);
    }

    function deposit(uint256 amount) external nonReentrant onlyActiveHousehold {
        if (amount == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        account.balance = (uint256(account.balance) + amount).toUint128();
        emit Deposited(msg.sender, amount);
        euro.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Withdraws deposited euros and sale proceeds. Open to former
    /// (deactivated) households too: their money is theirs.
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        if (amount > account.balance) revert InsufficientBalance(msg.sender, amount, account.balance);
        account.balance -= uint128(amount);
        emit Withdrawn(msg.sender, amount);
        euro.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------
    // Settlement (oracle only)
    // ------------------------------------------------------------------

    /// @notice Settles a whole interval in one transaction: records the
    /// readings root, applies the fills at the clearing price, mints each
    /// household's unsold surplus as credit, burns held tokens against each
    /// deficit and reports the rest as grid import.
    /// @param entries one per household with readings, sorted by address, ascending
    /// @param clearingPrice uniform price per kWh, a multiple of PRICE_TICK
    /// within the tariffs; ignored (use 0) when there are no fills
    function settleInterval(
        uint64 intervalId,
        bytes32 readingsRoot,
        Entry[] calldata entries,
        Fill[] calldata fills,
        uint256 clearingPrice
    ) external nonReentrant onlyOracle {
        IntervalState storage state = _intervals[intervalId];
        if (state.closed || state.chunks != 0) revert IntervalAlreadySettled(intervalId);
        _checkIntervalEnded(intervalId);
        _checkClearingPrice(clearingPrice, fills.length);

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

    /// @notice One part of a settlement too large for one transaction. Every
    /// chunk repeats the root and price; households continue in ascending
    /// order from the previous chunk, and auto fills name entries of their own
    /// chunk. The market may be out of balance between chunks; closeInterval
    /// requires it balanced.
    function settleChunk(
        uint64 intervalId,
        bytes32 readingsRoot,
        Entry[] calldata entries,
        Fill[] calldata fills,
        uint256 clearingPrice
    ) external nonReentrant onlyOracle {
        IntervalState storage state = _intervals[intervalId];
        if (state.closed) revert IntervalAlreadySettled(intervalId);
        _checkClearingPrice(clearingPrice, fills.length);
        if (state.chunks == 0) {
            _checkIntervalEnded(intervalId);
            state.readingsRoot = readingsRoot;
            state.clearingPrice = clearingPrice.toUint64();
        } else if (state.readingsRoot != readingsRoot || state.clearingPrice != clearingPrice) {
            revert ChunkMismatch(intervalId, readingsRoot, clearingPrice);
        }

        // The token calls in _applyChunk go only to our EnergyToken (no hooks,
        // cannot call back), and this function is nonReentrant: updating the
        // running totals after it is safe.
        ChunkTotals memory totals = _applyChunk(intervalId, state.lastHousehold, entries, fills, clearingPrice);
        if (entries.length != 0) state.lastHousehold = entries[entries.length - 1].household;
        state.chunks += 1;
        state.surplusWh += totals.surplusWh.toUint64();
        state.coveredWh += totals.coveredWh.toUint64();
        state.soldWh += totals.soldWh.toUint64();
        state.boughtWh += totals.boughtWh.toUint64();
        state.gridImportWh += totals.gridImportWh.toUint64();
        emit ChunkSettled(intervalId, state.chunks, entries.length, fills.length);
    }

    /// @notice Ends a chunked settlement once the energy sold equals the energy bought.
    function closeInterval(uint64 intervalId) external onlyOracle {
        IntervalState storage state = _intervals[intervalId];
        if (state.closed) revert IntervalAlreadySettled(intervalId);
        if (state.chunks == 0) revert IntervalNotOpen(intervalId);
        uint256 price = state.clearingPrice;
        // Euros follow from energy at one exact price, so checking Wh suffices here.
        if (state.soldWh != state.boughtWh) {
            revert ValueNotConserved(
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

    function currentInterval() public view returns (uint64) {
        return uint64(block.timestamp / intervalSeconds);
    }

    function getOrder(uint256 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    function getAccount(address household) external view returns (Account memory) {
        return _accounts[household];
    }

    function getInterval(uint64 intervalId) external view returns (IntervalState memory) {
        return _intervals[intervalId];
    }

    function isSettled(uint64 intervalId) external view returns (bool) {
        return _intervals[intervalId].closed;
    }

    /// @notice Checks one household's leaf against the interval's readings root
    /// (OpenZeppelin's double-hashed leaves, sorted-pair tree).
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
            if (entry.household <= previous) revert EntriesNotSorted(i, entry.household, previous);
            previous = entry.household;
            meteredLeft[i] = entry.producedWh > entry.consumedWh
                ? entry.producedWh - entry.consumedWh
                : entry.consumedWh - entry.producedWh;
        }

        uint256 askSoldWh;
        for (uint256 f = 0; f < fills.length; ++f) {
            Fill calldata fill = fills[f];
            if (fill.amountWh == 0) revert ZeroFill(f);
            if (fill.orderId == 0) {
                uint256 index = fill.autoEntry;
                if (index >= entries.length) revert AutoEntryOutOfRange(f, index, entries.length);
                uint256 left = meteredLeft[index];
                if (fill.amountWh > left) revert AutoFillExceedsMetered(entries[index].household, fill.amountWh, left);
                meteredLeft[index] = left - fill.amountWh;
                _applyAutoFill(intervalId, entries[index], fill.amountWh, clearingPrice, totals);
            } else if (_applyOrderFill(intervalId, fill, clearingPrice, totals) == Side.Ask) {
                askSoldWh += fill.amountWh;
            }
        }
        // Tokens that resting asks sold leave the market's escrow in one burn;
        // their buyers were minted theirs in _applyOrderFill.
        if (askSoldWh != 0) energyToken.burn(address(this), askSoldWh);

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
            if (limit == 0) revert AutoOrderOff(household, side);
            if (clearingPrice < limit) revert PriceBeyondLimit(0, household, limit, clearingPrice);
            account.balance = (uint256(account.balance) + value).toUint128();
            totals.soldWh += amountWh;
            totals.received += value;
        } else {
            uint256 limit = account.autoBuyPrice;
            if (limit == 0) revert AutoOrderOff(household, side);
            if (clearingPrice > limit) revert PriceBeyondLimit(0, household, limit, clearingPrice);
            uint256 balance = account.balance;
            if (value > balance) revert InsufficientBalance(household, value, balance);
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
        if (!order.open) revert OrderNotOpen(fill.orderId);
        if (intervalId < order.validFrom || intervalId > order.validTo) {
            revert OrderNotValidInInterval(fill.orderId, intervalId, order.validFrom, order.validTo);
        }
        uint256 remaining = order.amountWh - order.filledWh;
        if (fill.amountWh > remaining) revert FillExceedsOrder(fill.orderId, fill.amountWh, remaining);
        order.filledWh += fill.amountWh;

        side = order.side;
        address owner = order.owner;
        if (side == Side.Bid) {
            if (clearingPrice > order.limitPrice) {
                revert PriceBeyondLimit(fill.orderId, owner, order.limitPrice, clearingPrice);
            }
            if (value > order.escrow) revert FillExceedsEscrow(fill.orderId, value, order.escrow);
            order.escrow -= uint64(value);
            totals.boughtWh += fill.amountWh;
            totals.paid += value;
            energyToken.mint(owner, fill.amountWh);
        } else {
            if (clearingPrice < order.limitPrice) {
                revert PriceBeyondLimit(fill.orderId, owner, order.limitPrice, clearingPrice);
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
            if (credited != 0) energyToken.mint(household, credited);
        } else if (entry.consumedWh > entry.producedWh) {
            uint256 deficit = entry.consumedWh - entry.producedWh;
            uint256 held = energyToken.balanceOf(household);
            burned = held < meteredLeft ? held : meteredLeft;
            if (burned != 0) energyToken.burn(household, burned);
            gridImport = meteredLeft - burned;
            totals.coveredWh += deficit - gridImport;
            totals.gridImportWh += gridImport;
        }
        emit HouseholdSettled(
            intervalId, household, entry.producedWh, entry.consumedWh, credited, burned, gridImport
        );
    }

    function _closeAndRefund(uint256 orderId, Order storage order) private {
        if (!order.open) revert OrderNotOpen(orderId);
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
        if (refundEuro != 0) euro.safeTransfer(owner, refundEuro);
        if (refundWh != 0) energyToken.safeTransfer(owner, refundWh);
    }

    function _checkIntervalEnded(uint64 intervalId) private view {
        uint64 nowInterval = currentInterval();
        if (intervalId >= nowInterval) revert IntervalNotEnded(intervalId, nowInterval);
    }

    function _checkClearingPrice(uint256 clearingPrice, uint256 fillCount) private view {
        if (fillCount == 0) return;
        uint256 tick = registry.PRICE_TICK();
        if (clearingPrice % tick != 0) revert ClearingPriceNotOnTick(clearingPrice, tick);
        _checkPriceWithinTariffs(clearingPrice);
    }

    function _checkPriceWithinTariffs(uint256 price) private view {
        uint256 feedIn = registry.feedInPrice();
        uint256 retail = registry.retailPrice();
        if (price < feedIn || price > retail) revert PriceOutOfTariffs(price, feedIn, retail);
    }

    function _checkConserved(uint64 intervalId, ChunkTotals memory totals) private pure {
        if (totals.soldWh != totals.boughtWh || totals.paid != totals.received) {
            revert ValueNotConserved(intervalId, totals.soldWh, totals.boughtWh, totals.paid, totals.received);
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
