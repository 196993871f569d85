// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {Datatoken} from "./Datatoken.sol";
import {IDataMarket} from "./interfaces/IDataMarket.sol";
import {Fees} from "./libraries/Fees.sol";

/// @title DataMarket
/// @notice Factory, registry, pricing, orders and compute receipts of the datamarket.
/// @dev Storage is packed so that a buy or an order reads few slots; all payments are credited to
/// payees' balances here and withdrawn by them (pull payments). Payment tokens that charge a fee on
/// transfer or rebase are not supported: the ledger of each token is separate, so such a token can
/// only short its own payees.
contract DataMarket is IDataMarket, Ownable2Step, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Upper bound of the market fee and of a publish-market fee, in basis points (10%).
    uint16 public constant MAX_FEE_BPS = 1000;

    bytes32 private constant PROVIDER_FEE_TYPEHASH = keccak256(
        "ProviderFee(address datatoken,address consumer,uint8 serviceId,address feeToken,uint256 amount,uint64 validUntil,uint64 nonce,bytes32 environment)"
    );

    address private immutable _datatokenImplementation;
    MarketConfig private _config;

    mapping(address datatoken => Dataset) private _datasets;
    mapping(address datatoken => address) private _metadataUpdaters;
    mapping(address datatoken => address) private _pendingPublishers;
    mapping(address datatoken => address) private _pendingProviders;
    // Minters are named for one tenure of a publisher; a transfer starts a new tenure, so they lapse
    // (even when the dataset returns to an earlier publisher).
    mapping(address datatoken => uint256) private _tenures;
    mapping(address datatoken => mapping(uint256 tenure => mapping(address account => bool))) private _minters;
    // What each account has received from a free dataset's dispenser in all, free orders included.
    mapping(address datatoken => mapping(address account => uint256)) private _dispensed;
    mapping(address provider => mapping(uint256 word => uint256 bits)) private _usedQuotes;
    mapping(address token => mapping(address payee => uint256)) private _earnings;

    /// @param owner_ the market owner (fee settings, emergency pause)
    /// @param feeCollector receives the market fee
    /// @param feeBps the market fee, in basis points of each sale
    constructor(address owner_, address feeCollector, uint16 feeBps) Ownable(owner_) EIP712("Datamarket", "1") {
        _datatokenImplementation = address(new Datatoken());
        _setMarketFee(feeCollector, feeBps);
    }

    // ================================================================== views

    /// @inheritdoc IDataMarket
    function datatokenImplementation() external view override returns (address) {
        return _datatokenImplementation;
    }

    /// @inheritdoc IDataMarket
    function predictDatatoken(address publisher, bytes32 salt) public view returns (address) {
        return Clones.predictDeterministicAddress(_datatokenImplementation, _cloneSalt(publisher, salt));
    }

    /// @inheritdoc IDataMarket
    function datasetIndex(address datatoken) external view returns (uint64) {
        return _existing(datatoken).index;
    }

    /// @inheritdoc IDataMarket
    function getDataset(address datatoken) external view override returns (Dataset memory) {
        return _datasets[datatoken];
    }

    /// @inheritdoc IDataMarket
    function marketConfig() external view override returns (MarketConfig memory) {
        return _config;
    }

    /// @inheritdoc IDataMarket
    function metadataUpdater(address datatoken) external view override returns (address) {
        return _metadataUpdaters[datatoken];
    }

    /// @inheritdoc IDataMarket
    function pendingPublisher(address datatoken) external view override returns (address) {
        return _pendingPublishers[datatoken];
    }

    /// @inheritdoc IDataMarket
    function pendingProvider(address datatoken) external view override returns (address) {
        return _pendingProviders[datatoken];
    }

    /// @inheritdoc IDataMarket
    function isMinter(address datatoken, address account) external view override returns (bool) {
        return _minters[datatoken][_tenures[datatoken]][account];
    }

    /// @inheritdoc IDataMarket
    function dispensed(address datatoken, address account) external view override returns (uint256) {
        return _dispensed[datatoken][account];
    }

    /// @inheritdoc IDataMarket
    function earnings(address token, address payee) external view override returns (uint256) {
        return _earnings[token][payee];
    }

    /// @inheritdoc IDataMarket
    function isQuoteUsed(address provider, uint64 nonce) external view override returns (bool) {
        return _usedQuotes[provider][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @inheritdoc IDataMarket
    function quoteDigest(ProviderFee calldata quote) public view override returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PROVIDER_FEE_TYPEHASH, quote)));
    }

    // ================================================================== publisher

    /// @inheritdoc IDataMarket
    function publish(PublishParams calldata p) external returns (address datatoken) {
        if (p.provider == address(0)) revert MarketZeroAddress();
        if (p.services == 0) revert MarketNoServices();
        if (p.metadataHash == bytes32(0) || bytes(p.metadataCid).length == 0) revert MarketEmptyMetadata();
        if (p.publishFeeBps > MAX_FEE_BPS) revert MarketFeeTooHigh(p.publishFeeBps, MAX_FEE_BPS);
        if (p.publishFeeBps != 0 && p.publishFeeCollector == address(0)) revert MarketZeroAddress();

        // The address is fixed by the publisher and salt alone, so the publisher knows it (and can
        // bind the content key's wrap to it) before sending; nobody else can take it.
        bytes32 cloneSalt = _cloneSalt(msg.sender, p.salt);
        datatoken = Clones.predictDeterministicAddress(_datatokenImplementation, cloneSalt);
        // A datatoken's state never returns to None, and only this market deploys at these addresses.
        Dataset storage d = _datasets[datatoken];
        if (d.state != DatasetState.None) revert MarketDatatokenExists(datatoken);
        Clones.cloneDeterministic(_datatokenImplementation, cloneSalt);

        uint32 index = _config.datasetCount;
        // 2^32 publishes would cost more gas than every block until then holds.
        unchecked {
            _config.datasetCount = index + 1;
        }

        d.publisher = msg.sender;
        d.index = index;
        d.state = DatasetState.Active;
        d.services = p.services;
        d.free = p.free;
        d.hasAllowlist = p.allowlistRoot != bytes32(0);
        d.capped = p.cap != 0;
        d.publishFeeBps = p.publishFeeBps;
        d.provider = p.provider;
        d.epsilonBudget = p.epsilonBudget;
        if (!p.free) {
            d.paymentToken = p.paymentToken;
            d.price = p.price;
        }
        if (p.cap != 0 || p.free) {
            d.cap = p.cap;
            d.dispenserLimit = p.free ? p.dispenserLimit : 0;
        }
        d.metadataHash = p.metadataHash;
        if (p.publishFeeBps != 0) d.publishFeeCollector = p.publishFeeCollector;
        if (d.hasAllowlist) d.allowlistRoot = p.allowlistRoot;

        emit DatasetPublished(
            datatoken, msg.sender, p.provider, index, p.services, p.epsilonBudget, p.metadataHash, p.metadataCid
        );
        if (p.free) emit DispenserSet(datatoken, p.dispenserLimit, p.cap);
        else emit PriceSet(datatoken, p.paymentToken, p.price, p.cap);
        if (p.publishFeeBps != 0) emit PublishFeeSet(datatoken, p.publishFeeCollector, p.publishFeeBps);
        if (d.hasAllowlist) emit AllowlistSet(datatoken, p.allowlistRoot);
    }

    /// @inheritdoc IDataMarket
    function updateMetadata(address datatoken, string calldata metadataCid, bytes32 metadataHash) external {
        Dataset storage d = _existing(datatoken);
        if (msg.sender != d.publisher && msg.sender != _metadataUpdaters[datatoken]) {
            revert MarketNotMetadataUpdater(msg.sender);
        }
        if (metadataHash == bytes32(0) || bytes(metadataCid).length == 0) revert MarketEmptyMetadata();
        d.metadataHash = metadataHash;
        emit MetadataUpdated(datatoken, msg.sender, metadataHash, metadataCid);
    }

    /// @inheritdoc IDataMarket
    function setPrice(address datatoken, address paymentToken, uint96 price) external {
        Dataset storage d = _publishedBy(datatoken, msg.sender);
        if (d.free) {
            // Refused rather than a new generation of tokens: a holder of free datatokens would
            // otherwise order a priced dataset at no cost.
            uint256 supply = IERC20(datatoken).totalSupply();
            if (supply != 0) revert MarketFreeTokensOutstanding(datatoken, supply);
            d.free = false;
            d.dispenserLimit = 0;
        }
        d.paymentToken = paymentToken;
        d.price = price;
        emit PriceSet(datatoken, paymentToken, price, d.cap);
    }

    /// @inheritdoc IDataMarket
    function setDispenser(address datatoken, uint128 limit) external {
        Dataset storage d = _publishedBy(datatoken, msg.sender);
        d.free = true;
        d.paymentToken = address(0);
        d.price = 0;
        d.dispenserLimit = limit;
        emit DispenserSet(datatoken, limit, d.cap);
    }

    /// @inheritdoc IDataMarket
    function setDatasetState(address datatoken, DatasetState state) external {
        Dataset storage d = _publishedBy(datatoken, msg.sender);
        DatasetState from = d.state;
        if (from == DatasetState.Retired || state == DatasetState.None || state == from) {
            revert MarketInvalidStateTransition(from, state);
        }
        d.state = state;
        emit DatasetStateChanged(datatoken, from, state);
    }

    /// @inheritdoc IDataMarket
    function setAllowlist(address datatoken, bytes32 root) external {
        Dataset storage d = _publishedBy(datatoken, msg.sender);
        d.hasAllowlist = root != bytes32(0);
        d.allowlistRoot = root;
        emit AllowlistSet(datatoken, root);
    }

    /// @inheritdoc IDataMarket
    function setMetadataUpdater(address datatoken, address updater) external {
        _publishedBy(datatoken, msg.sender);
        _metadataUpdaters[datatoken] = updater;
        emit MetadataUpdaterSet(datatoken, updater);
    }

    /// @inheritdoc IDataMarket
    function setMinter(address datatoken, address account, bool allowed) external {
        _publishedBy(datatoken, msg.sender);
        _minters[datatoken][_tenures[datatoken]][account] = allowed;
        emit MinterSet(datatoken, account, allowed);
    }

    /// @inheritdoc IDataMarket
    function raisePrivacyBudget(address datatoken, uint48 newBudget) external {
        Dataset storage d = _publishedBy(datatoken, msg.sender);
        uint48 budget = d.epsilonBudget;
        if (newBudget < budget) revert MarketBudgetDecrease(budget, newBudget);
        d.epsilonBudget = newBudget;
        emit PrivacyBudgetRaised(datatoken, budget, newBudget);
    }

    /// @inheritdoc IDataMarket
    function transferDataset(address datatoken, address newPublisher) external {
        _publishedBy(datatoken, msg.sender);
        _pendingPublishers[datatoken] = newPublisher;
        emit DatasetTransferStarted(datatoken, msg.sender, newPublisher);
    }

    /// @inheritdoc IDataMarket
    function acceptDataset(address datatoken) external {
        Dataset storage d = _existing(datatoken);
        if (msg.sender != _pendingPublishers[datatoken]) revert MarketNotPendingPublisher(msg.sender);
        address from = d.publisher;
        d.publisher = msg.sender;
        delete _pendingPublishers[datatoken];
        emit DatasetTransferred(datatoken, from, msg.sender);
        ++_tenures[datatoken];
        emit MintersCleared(datatoken);
        if (_metadataUpdaters[datatoken] != address(0)) {
            delete _metadataUpdaters[datatoken];
            emit MetadataUpdaterSet(datatoken, address(0));
        }
        if (_pendingProviders[datatoken] != address(0)) {
            delete _pendingProviders[datatoken];
            emit ProviderChangeStarted(datatoken, d.provider, address(0));
        }
    }

    /// @inheritdoc IDataMarket
    function proposeProvider(address datatoken, address newProvider) external {
        Dataset storage d = _publishedBy(datatoken, msg.sender);
        _pendingProviders[datatoken] = newProvider;
        emit ProviderChangeStarted(datatoken, d.provider, newProvider);
    }

    /// @inheritdoc IDataMarket
    function acceptProvider(address datatoken) external {
        Dataset storage d = _existing(datatoken);
        if (msg.sender != _pendingProviders[datatoken]) revert MarketNotPendingProvider(msg.sender);
        address from = d.provider;
        d.provider = msg.sender;
        delete _pendingProviders[datatoken];
        emit ProviderChanged(datatoken, from, msg.sender);
    }

    /// @inheritdoc IDataMarket
    function setPublishFeeCollector(address datatoken, address newCollector) external {
        Dataset storage d = _existing(datatoken);
        address collector = d.publishFeeCollector;
        if (msg.sender != collector) revert MarketNotFeeCollector(msg.sender, collector);
        if (newCollector == address(0)) revert MarketZeroAddress();
        d.publishFeeCollector = newCollector;
        emit PublishFeeSet(datatoken, newCollector, d.publishFeeBps);
    }

    /// @inheritdoc IDataMarket
    function mint(address datatoken, address to, uint256 amount) external {
        Dataset storage d = _existing(datatoken);
        address publisher = d.publisher;
        if (msg.sender != publisher && !_minters[datatoken][_tenures[datatoken]][msg.sender]) {
            revert MarketNotMinter(msg.sender);
        }
        if (d.state == DatasetState.Retired) revert MarketDatasetNotActive(datatoken, DatasetState.Retired);
        _mintTo(d, datatoken, to, amount);
        emit Minted(datatoken, msg.sender, to, amount);
    }

    // ================================================================== consumer

    /// @inheritdoc IDataMarket
    function buy(address datatoken, uint256 amount, address paymentToken, uint256 maxPrice)
        external
        payable
        nonReentrant
    {
        Dataset storage d = _existing(datatoken);
        _checkOpen(d, datatoken);
        uint256 cost = _pay(d, datatoken, amount, paymentToken, maxPrice, true);
        _mintTo(d, datatoken, msg.sender, amount);
        _checkValue(_collect(paymentToken, cost));
    }

    /// @inheritdoc IDataMarket
    function dispense(address datatoken, uint256 amount) external nonReentrant {
        Dataset storage d = _existing(datatoken);
        _checkOpen(d, datatoken);
        if (!d.free) revert MarketNotFree(datatoken);
        _takeFromDispenser(d, datatoken, amount);
        _mintTo(d, datatoken, msg.sender, amount);
        emit Dispensed(datatoken, msg.sender, amount);
    }

    /// @inheritdoc IDataMarket
    function startOrder(ProviderFee calldata quote, bytes calldata signature, bytes32[] calldata allowlistProof)
        external
        payable
        nonReentrant
    {
        Dataset storage d = _existing(quote.datatoken);
        _checkOpen(d, quote.datatoken);
        Datatoken(quote.datatoken).marketBurn(msg.sender, 1);
        uint256 fee = _order(d, quote, signature, allowlistProof, OrderFunding.Burned);
        _checkValue(_collect(quote.feeToken, fee));
    }

    /// @inheritdoc IDataMarket
    function buyAndOrder(
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        address paymentToken,
        uint256 maxPrice
    ) external payable nonReentrant {
        _buyAndOrder(quote, signature, allowlistProof, paymentToken, maxPrice);
    }

    /// @inheritdoc IDataMarket
    function buyAndOrderWithPermit(
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        address paymentToken,
        uint256 maxPrice,
        Permit calldata payment,
        Permit calldata fee
    ) external payable nonReentrant {
        // A permit front-run by someone else has already set the allowance: its failure is ignored and
        // the transfer decides. The payment token is the one the buyer named; buyAndOrder checks it.
        _permit(paymentToken, payment);
        if (quote.feeToken != paymentToken) _permit(quote.feeToken, fee);
        _buyAndOrder(quote, signature, allowlistProof, paymentToken, maxPrice);
    }

    /// @inheritdoc IDataMarket
    function withdraw(address token) external nonReentrant {
        _withdraw(token, msg.sender);
    }

    /// @inheritdoc IDataMarket
    function withdrawTo(address token, address to) external nonReentrant {
        if (to == address(0)) revert MarketZeroAddress();
        // Sent to the market itself, the tokens would be held by no one's earnings.
        if (to == address(this)) revert MarketInvalidRecipient(to);
        _withdraw(token, to);
    }

    // ================================================================== provider

    /// @inheritdoc IDataMarket
    function postComputeReceipts(address datatoken, ComputeReceipt[] calldata receipts) external {
        uint256 n = receipts.length;
        if (n == 0) revert MarketEmptyBatch();
        Dataset storage d = _existing(datatoken);
        address provider = d.provider;
        if (msg.sender != provider) revert MarketNotProvider(msg.sender, provider);
        uint256 spent = d.epsilonSpent;
        uint256 budget = d.epsilonBudget;
        for (uint256 i; i < n; ++i) {
            ComputeReceipt calldata r = receipts[i];
            spent += r.epsilon;
            if (spent > budget) revert MarketBudgetExceeded(datatoken, spent, uint48(budget));
            // spent <= budget, a uint48, so the cast is exact.
            emit ComputeReceiptPosted(
                r.jobId, datatoken, r.orderId, msg.sender, r.algorithmHash, r.outputHash, r.epsilon, uint48(spent), r.status
            );
        }
        d.epsilonSpent = uint48(spent);
    }

    // ================================================================== market owner

    /// @inheritdoc IDataMarket
    function setMarketFee(address collector, uint16 bps) external onlyOwner {
        _setMarketFee(collector, bps);
    }

    /// @inheritdoc IDataMarket
    function setOrdersPaused(bool paused) external onlyOwner {
        _config.ordersPaused = paused;
        emit OrdersPausedSet(paused);
    }

    /// @notice Always reverts: a market without an owner could never be unpaused or have its fee set.
    /// Ownership moves with transferOwnership and acceptOwnership (two steps).
    function renounceOwnership() public pure override {
        revert MarketOwnershipRequired();
    }

    // ================================================================== internal

    function _setMarketFee(address collector, uint16 bps) private {
        if (collector == address(0)) revert MarketZeroAddress();
        if (bps > MAX_FEE_BPS) revert MarketFeeTooHigh(bps, MAX_FEE_BPS);
        _config.feeCollector = collector;
        _config.feeBps = bps;
        emit MarketFeeSet(collector, bps);
    }

    function _cloneSalt(address publisher, bytes32 salt) private pure returns (bytes32) {
        return keccak256(abi.encode(publisher, salt));
    }

    function _existing(address datatoken) private view returns (Dataset storage d) {
        d = _datasets[datatoken];
        if (d.state == DatasetState.None) revert MarketUnknownDataset(datatoken);
    }

    function _publishedBy(address datatoken, address caller) private view returns (Dataset storage d) {
        d = _existing(datatoken);
        if (caller != d.publisher) revert MarketNotPublisher(caller, d.publisher);
    }

    function _checkOpen(Dataset storage d, address datatoken) private view {
        if (d.state != DatasetState.Active) revert MarketDatasetNotActive(datatoken, d.state);
        if (_config.ordersPaused) revert MarketOrdersPaused();
    }

    function _checkValue(uint256 nativeDue) private view {
        if (msg.value != nativeDue) revert MarketWrongValue(msg.value, nativeDue);
    }

    function _mintTo(Dataset storage d, address datatoken, address to, uint256 amount) private {
        if (amount == 0) revert MarketZeroAmount();
        Datatoken(datatoken).marketMint(to, amount, d.capped ? d.cap : 0);
    }

    function _takeFromDispenser(Dataset storage d, address datatoken, uint256 amount) private {
        uint256 received = _dispensed[datatoken][msg.sender] + amount;
        uint256 limit = d.dispenserLimit;
        if (received > limit) revert MarketDispenserLimit(received, limit);
        _dispensed[datatoken][msg.sender] = received;
    }

    function _permit(address token, Permit calldata p) private {
        // No permit for the native coin or an address without code: a call there fails its
        // code-size check, which try/catch does not catch (the buyer's named token is then refused
        // with MarketPaymentTokenMismatch rather than an empty revert).
        if (p.deadline == 0 || token.code.length == 0) return;
        try IERC20Permit(token).permit(msg.sender, address(this), p.value, p.deadline, p.v, p.r, p.s) {} catch {}
    }

    function _withdraw(address token, address to) private {
        uint256 amount = _earnings[token][msg.sender];
        if (amount == 0) revert MarketNothingToWithdraw(token, msg.sender);
        _earnings[token][msg.sender] = 0;
        emit EarningsWithdrawn(msg.sender, token, to, amount);
        if (token == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert MarketNativeTransferFailed(to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
    }

    function _buyAndOrder(
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        address paymentToken,
        uint256 maxPrice
    ) private {
        Dataset storage d = _existing(quote.datatoken);
        _checkOpen(d, quote.datatoken);
        uint256 cost;
        OrderFunding funding;
        if (d.free) {
            // The buyer expected to pay: a dataset that became free is not what they signed up for.
            if (paymentToken != address(0) || maxPrice != 0) revert MarketIsFree(quote.datatoken);
            // The one datatoken is never minted, but counts against the caller's dispenser limit.
            _takeFromDispenser(d, quote.datatoken, 1);
            funding = OrderFunding.Free;
        } else {
            cost = _pay(d, quote.datatoken, 1, paymentToken, maxPrice, false);
            funding = OrderFunding.Bought;
        }
        uint256 fee = _order(d, quote, signature, allowlistProof, funding);
        // One transfer when the price and the provider fee are in the same token.
        uint256 nativeDue = paymentToken == quote.feeToken
            ? _collect(paymentToken, cost + fee)
            : _collect(paymentToken, cost) + _collect(quote.feeToken, fee);
        _checkValue(nativeDue);
    }

    /// @dev Credits the payees with the price of `amount` datatokens and returns that cost, which
    /// the caller collects (with `_collect`) after all credits are written.
    function _pay(
        Dataset storage d,
        address datatoken,
        uint256 amount,
        address paymentToken,
        uint256 maxPrice,
        bool minted
    ) private returns (uint256 cost) {
        if (d.free) revert MarketIsFree(datatoken);
        address token = d.paymentToken;
        if (token != paymentToken) revert MarketPaymentTokenMismatch(paymentToken, token);
        uint256 price = d.price;
        if (price > maxPrice) revert MarketPriceAboveMax(price, maxPrice);
        cost = price * amount;
        MarketConfig storage c = _config;
        uint256 marketFee = Fees.share(cost, c.feeBps);
        uint256 publishFee = Fees.share(cost, d.publishFeeBps);
        if (marketFee != 0) _earnings[token][c.feeCollector] += marketFee;
        if (publishFee != 0) _earnings[token][d.publishFeeCollector] += publishFee;
        // Each fee is at most 10% of cost, so the publisher's share cannot underflow.
        unchecked {
            _earnings[token][d.publisher] += cost - marketFee - publishFee;
        }
        emit Bought(datatoken, msg.sender, token, amount, cost, marketFee, publishFee, minted);
    }

    /// @dev Checks the quote and allowlist, credits the provider fee, emits OrderStarted with the next
    /// order id. Returns the fee, which the caller collects.
    function _order(
        Dataset storage d,
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        OrderFunding funding
    ) private returns (uint256 fee) {
        if (d.services & (uint256(1) << quote.serviceId) == 0) {
            revert MarketServiceNotOffered(quote.datatoken, quote.serviceId);
        }
        if (quote.validUntil < block.timestamp) revert MarketQuoteExpired(quote.validUntil, block.timestamp);
        address provider = d.provider;
        bytes32 digest = quoteDigest(quote);
        (address signer,,) = ECDSA.tryRecoverCalldata(digest, signature);
        // A contract provider (a multisig) signs with ERC-1271; asked only when ECDSA does not match.
        if (signer != provider && !SignatureChecker.isValidERC1271SignatureNowCalldata(provider, digest, signature)) {
            revert MarketQuoteSignerMismatch(signer, provider);
        }
        _useQuote(provider, quote.nonce);
        if (d.hasAllowlist) {
            bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(quote.consumer))));
            if (!MerkleProof.verifyCalldata(allowlistProof, d.allowlistRoot, leaf)) {
                revert MarketNotAllowlisted(quote.consumer);
            }
        }
        fee = quote.amount;
        if (fee != 0) _earnings[quote.feeToken][provider] += fee;
        uint40 orderId = _config.orderCount;
        // 2^40 orders would cost more gas than every block until then holds.
        unchecked {
            _config.orderCount = orderId + 1;
        }
        _emitOrder(quote, provider, orderId, funding);
    }

    function _emitOrder(ProviderFee calldata quote, address provider, uint64 orderId, OrderFunding funding)
        private
    {
        emit OrderStarted(
            quote.datatoken,
            quote.consumer,
            provider,
            orderId,
            msg.sender,
            funding,
            quote.serviceId,
            quote.feeToken,
            quote.amount,
            quote.nonce,
            quote.environment
        );
    }

    function _useQuote(address provider, uint64 nonce) private {
        uint256 bit = uint256(1) << (nonce & 0xff);
        mapping(uint256 => uint256) storage words = _usedQuotes[provider];
        uint256 word = words[nonce >> 8];
        if (word & bit != 0) revert MarketQuoteUsed(provider, nonce);
        words[nonce >> 8] = word | bit;
    }

    /// @dev Pulls an ERC-20 amount from the caller now; native coin is returned as due.
    function _collect(address token, uint256 amount) private returns (uint256 nativeDue) {
        if (token == address(0)) return amount;
        if (amount != 0) IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        return 0;
    }
}
