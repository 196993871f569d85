// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The datamarket market: datatoken factory, dataset registry, pricing, orders and compute receipts
/// @notice Events are the indexer's API: they are documented here, emitted right after the state
/// change they describe, and changing one is a breaking change.
interface IDataMarket {
    /// @notice Lifecycle of a dataset. `None` marks an address that is not a datatoken of this market.
    enum DatasetState {
        None,
        Active,
        Paused,
        Retired
    }

    /// @notice Final status of a compute job, as posted in its receipt.
    enum JobStatus {
        Succeeded,
        Failed,
        Rejected,
        Cancelled
    }

    /// @notice How an order's datatoken was paid for: a datatoken the caller held was burned, one was
    /// bought in the same call (never minted), or a free dataset's dispenser gave it (never minted).
    enum OrderFunding {
        Burned,
        Bought,
        Free
    }

    /// @notice Everything a publisher sets in the one publish transaction.
    /// @dev Epsilon values are in micro-epsilon (1e-6), so 10 epsilon is 10_000_000. Datatokens have
    /// 0 decimals: one datatoken is one order.
    struct PublishParams {
        address provider; // the provider service that holds the content key and signs fee quotes
        uint8 services; // bit i set = service id i is offered (0 download, 1 compute, ...)
        bool free; // true: a dispenser hands out datatokens, no price
        uint16 publishFeeBps; // fee kept for the publishing market front-end, out of the price
        uint48 epsilonBudget; // the dataset's privacy budget for compute jobs
        address paymentToken; // address(0) = the chain's native coin
        uint96 price; // price of one whole datatoken, in the payment token's smallest unit
        uint128 cap; // most datatokens in circulation at once; 0 = no cap
        uint128 dispenserLimit; // free datasets: most datatokens one account receives in all (orders included)
        address publishFeeCollector; // receives the publish-market fee
        bytes32 metadataHash; // sha256 of the metadata document
        bytes32 allowlistRoot; // Merkle root of allowed consumers; zero = anyone
        bytes32 salt; // with the publisher, fixes the datatoken's address (see predictDatatoken)
        string metadataCid; // where the metadata document lives on IPFS
    }

    /// @notice A provider fee quote, signed off chain (EIP-712) by the dataset's provider.
    /// @dev The quote names the datatoken, consumer and service it is for, so it is also the order's
    /// description. Each nonce can be used once per provider.
    struct ProviderFee {
        address datatoken;
        address consumer;
        uint8 serviceId;
        address feeToken; // address(0) = native coin
        uint256 amount;
        uint64 validUntil; // unix time after which the quote cannot be used
        uint64 nonce;
        bytes32 environment; // compute environment id; zero for downloads
    }

    /// @notice EIP-2612 permit arguments; a zero `deadline` means "no permit".
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice One finished compute job, posted by the dataset's provider.
    struct ComputeReceipt {
        bytes32 jobId;
        uint64 orderId; // the id in the OrderStarted of the order that paid for the job
        bytes32 algorithmHash;
        bytes32 outputHash;
        uint48 epsilon; // micro-epsilon charged against the dataset's budget
        JobStatus status;
    }

    /// @notice A dataset's on-chain record, as `getDataset` returns it (storage-packed: the slot
    /// comments say which operations read which fields). Epsilon values are in micro-epsilon.
    struct Dataset {
        // slot 0: read by every buy and order
        address publisher;
        DatasetState state;
        uint8 services;
        bool free;
        bool hasAllowlist;
        bool capped;
        uint16 publishFeeBps;
        uint40 index; // publish order; here because slot 0 is written by publish anyway
        // slot 1: read by orders and receipts
        address provider;
        uint48 epsilonBudget;
        uint48 epsilonSpent;
        // slot 2: read by buys
        address paymentToken;
        uint96 price;
        // slot 3: read only when minting with a cap, and by the dispenser
        uint128 cap;
        uint128 dispenserLimit;
        // slots 4-6: read rarely
        bytes32 metadataHash;
        address publishFeeCollector;
        bytes32 allowlistRoot;
    }

    /// @notice The market's own settings and counters, as `marketConfig` returns them.
    struct MarketConfig {
        address feeCollector;
        uint16 feeBps;
        bool ordersPaused;
        uint32 datasetCount;
        uint40 orderCount; // the next order's id
    }

    // ------------------------------------------------------------------ errors

    error MarketZeroAddress();
    error MarketFeeTooHigh(uint256 bps, uint256 maxBps);
    error MarketNoServices();
    error MarketEmptyMetadata();
    error MarketUnknownDataset(address datatoken);
    error MarketDatatokenExists(address datatoken);
    error MarketNotPublisher(address caller, address publisher);
    error MarketNotMetadataUpdater(address caller);
    error MarketNotMinter(address caller);
    error MarketNotPendingPublisher(address caller);
    error MarketInvalidStateTransition(DatasetState from, DatasetState to);
    error MarketDatasetNotActive(address datatoken, DatasetState state);
    error MarketOrdersPaused();
    error MarketIsFree(address datatoken);
    error MarketNotFree(address datatoken);
    error MarketPaymentTokenMismatch(address expected, address actual);
    error MarketFreeTokensOutstanding(address datatoken, uint256 supply);
    error MarketPriceAboveMax(uint256 price, uint256 maxPrice);
    error MarketZeroAmount();
    error MarketWrongValue(uint256 sent, uint256 expected);
    error MarketDispenserLimit(uint256 receivedAfter, uint256 limit);
    error MarketServiceNotOffered(address datatoken, uint8 serviceId);
    error MarketQuoteExpired(uint64 validUntil, uint256 nowTime);
    error MarketQuoteSignerMismatch(address signer, address provider);
    error MarketQuoteUsed(address provider, uint64 nonce);
    error MarketNotAllowlisted(address consumer);
    error MarketNothingToWithdraw(address token, address payee);
    error MarketNativeTransferFailed(address to, uint256 amount);
    error MarketBudgetDecrease(uint48 budget, uint48 requested);
    error MarketBudgetExceeded(address datatoken, uint256 spent, uint48 budget);
    error MarketNotProvider(address caller, address provider);
    error MarketEmptyBatch();
    error MarketNotPendingProvider(address caller);
    error MarketNotFeeCollector(address caller, address collector);
    error MarketOwnershipRequired();
    error MarketInvalidRecipient(address to);

    // ------------------------------------------------------------------ events

    /// @notice A dataset and its datatoken came to be, with its first metadata document and policy.
    event DatasetPublished(
        address indexed datatoken,
        address indexed publisher,
        address indexed provider,
        uint64 index,
        uint8 services,
        uint48 epsilonBudget,
        bytes32 metadataHash,
        string metadataCid
    );
    /// @notice The dataset's fixed price was set (at publish or later); it is no longer free, and its
    /// dispenser limit is zero.
    event PriceSet(address indexed datatoken, address indexed paymentToken, uint96 price, uint128 cap);
    /// @notice The dataset became free, with a dispenser limit per account (at publish or later); its
    /// payment token and price are zero.
    event DispenserSet(address indexed datatoken, uint128 limit, uint128 cap);
    /// @notice The publish-market fee of a dataset was set (at publish, or its collector changed).
    event PublishFeeSet(address indexed datatoken, address indexed collector, uint16 bps);
    /// @notice A new metadata document replaced the previous one.
    event MetadataUpdated(address indexed datatoken, address indexed updatedBy, bytes32 metadataHash, string metadataCid);
    /// @notice The dataset moved from one state to another.
    event DatasetStateChanged(address indexed datatoken, DatasetState from, DatasetState to);
    /// @notice The consumer allowlist changed; a zero root means anyone may order.
    event AllowlistSet(address indexed datatoken, bytes32 root);
    /// @notice The publisher named (or removed, with address(0)) the account allowed to update metadata.
    event MetadataUpdaterSet(address indexed datatoken, address indexed updater);
    /// @notice The publisher allowed or disallowed an account to mint datatokens.
    event MinterSet(address indexed datatoken, address indexed account, bool allowed);
    /// @notice Every minter of the dataset lapsed (the dataset changed hands).
    event MintersCleared(address indexed datatoken);
    /// @notice The publisher named a new provider, who must accept; address(0) withdraws the offer.
    event ProviderChangeStarted(address indexed datatoken, address indexed provider, address indexed newProvider);
    /// @notice The dataset's provider changed: only the new one's quotes and receipts count.
    event ProviderChanged(address indexed datatoken, address indexed from, address indexed to);
    /// @notice The publisher offered the dataset to a new publisher, who must accept it.
    event DatasetTransferStarted(address indexed datatoken, address indexed from, address indexed to);
    /// @notice The dataset's publisher changed.
    event DatasetTransferred(address indexed datatoken, address indexed from, address indexed to);
    /// @notice The publisher raised the dataset's privacy budget.
    event PrivacyBudgetRaised(address indexed datatoken, uint48 from, uint48 to);
    /// @notice Datatokens were minted by the publisher or one of its minters.
    event Minted(address indexed datatoken, address indexed by, address indexed to, uint256 amount);
    /// @notice A free dataset's dispenser handed out datatokens.
    event Dispensed(address indexed datatoken, address indexed to, uint256 amount);
    /// @notice Datatokens were bought at the fixed price; `cost` is what the buyer paid in all,
    /// of which `marketFee` and `publishFee` went to the fee collectors and the rest to the publisher.
    /// `minted` is true for `buy` (the buyer received `amount` datatokens) and false for buyAndOrder
    /// (the one datatoken bought was spent on the order at once and never existed).
    event Bought(
        address indexed datatoken,
        address indexed buyer,
        address indexed paymentToken,
        uint256 amount,
        uint256 cost,
        uint256 marketFee,
        uint256 publishFee,
        bool minted
    );
    /// @notice One datatoken was spent for one service of the dataset; the provider verifies this event.
    /// `orderId` counts every order of this market from 0; `funding` says how the datatoken was paid for.
    event OrderStarted(
        address indexed datatoken,
        address indexed consumer,
        address indexed provider,
        uint64 orderId,
        address payer,
        OrderFunding funding,
        uint8 serviceId,
        address feeToken,
        uint256 feeAmount,
        uint64 quoteNonce,
        bytes32 environment
    );
    /// @notice A compute job finished and was charged against the dataset's privacy budget by its
    /// provider `poster`; `spentAfter` is the dataset's spent epsilon after this receipt.
    event ComputeReceiptPosted(
        bytes32 indexed jobId,
        address indexed datatoken,
        uint64 indexed orderId,
        address poster,
        bytes32 algorithmHash,
        bytes32 outputHash,
        uint48 epsilon,
        uint48 spentAfter,
        JobStatus status
    );
    /// @notice A payee took out what it had earned in one token, sent to `to`.
    event EarningsWithdrawn(address indexed payee, address indexed token, address indexed to, uint256 amount);
    /// @notice The market owner changed the market fee.
    event MarketFeeSet(address indexed collector, uint16 bps);
    /// @notice The market owner paused or resumed all new buys and orders.
    event OrdersPausedSet(bool paused);

    // ------------------------------------------------------------------ views
    // What a client reads before it buys, orders or audits. Amounts are in the token's smallest unit.

    /// @notice The implementation every datatoken is a clone of.
    function datatokenImplementation() external view returns (address);

    /// @notice The full record of a dataset (state None if `datatoken` is not one of this market's).
    function getDataset(address datatoken) external view returns (Dataset memory);

    /// @notice Market fee collector and rate, whether orders are paused, how many datasets and orders exist.
    function marketConfig() external view returns (MarketConfig memory);

    /// @notice Who may update the dataset's metadata besides its publisher (address(0): nobody).
    function metadataUpdater(address datatoken) external view returns (address);

    /// @notice The account the publisher is transferring the dataset to, until it accepts (address(0): none).
    function pendingPublisher(address datatoken) external view returns (address);

    /// @notice The provider named by the publisher that has not accepted yet (address(0): none).
    function pendingProvider(address datatoken) external view returns (address);

    /// @notice Whether `account` may mint the dataset's datatokens under its current publisher.
    function isMinter(address datatoken, address account) external view returns (bool);

    /// @notice How many datatokens `account` has received from the dataset's dispenser, orders included.
    function dispensed(address datatoken, address account) external view returns (uint256);

    /// @notice What `payee` can withdraw in `token` (address(0) = native coin).
    function earnings(address token, address payee) external view returns (uint256);

    /// @notice Whether `provider` already used quote `nonce` (each nonce is usable once per provider).
    function isQuoteUsed(address provider, uint64 nonce) external view returns (bool);

    /// @notice The EIP-712 digest a provider signs for `quote`: domain {name "Datamarket", version "1",
    /// chainId, verifyingContract: this market}, type `ProviderFee(address datatoken,address consumer,
    /// uint8 serviceId,address feeToken,uint256 amount,uint64 validUntil,uint64 nonce,bytes32 environment)`.
    function quoteDigest(ProviderFee calldata quote) external view returns (bytes32);

    // ------------------------------------------------------------------ publisher
    // Units: datatoken amounts are whole datatokens (decimals() is 0, one datatoken is one order);
    // prices and fees are in the payment or fee token's smallest unit (wei for the native coin);
    // epsilon is in micro-epsilon.

    /// @notice The address `publisher`'s publish with `salt` deploys its datatoken at (CREATE2 of an
    /// EIP-1167 clone, salted with keccak256(abi.encode(publisher, salt))), known before publishing.
    function predictDatatoken(address publisher, bytes32 salt) external view returns (address);

    /// @notice A dataset's index in this market (0, 1, 2, ... in publish order); its datatoken's
    /// symbol is `DT-<index>`. Reverts MarketUnknownDataset for an address that is not a datatoken.
    function datasetIndex(address datatoken) external view returns (uint64);

    /// @notice Deploys the dataset's datatoken, records the dataset and sets its price, in one call.
    /// The datatoken lands at `predictDatatoken(msg.sender, params.salt)`; a salt this publisher
    /// already used reverts MarketDatatokenExists, so a retried publish cannot create a second dataset.
    /// @return datatoken the new datatoken's address, which is also the dataset's id on this chain
    function publish(PublishParams calldata params) external returns (address datatoken);

    /// @notice Replaces the metadata document. Publisher or its named updater.
    function updateMetadata(address datatoken, string calldata metadataCid, bytes32 metadataHash) external;

    /// @notice Sets a fixed price of `price` smallest units of `paymentToken` per datatoken; the dataset
    /// stops being free if it was. A free dataset with datatokens in circulation cannot become priced
    /// (MarketFreeTokensOutstanding): tokens handed out free would order it at no cost.
    function setPrice(address datatoken, address paymentToken, uint96 price) external;

    /// @notice Makes the dataset free: each account receives at most `limit` datatokens in all from
    /// the dispenser, free orders included. Payment token and price become zero.
    function setDispenser(address datatoken, uint128 limit) external;

    /// @notice Active <-> Paused, or either -> Retired (final).
    function setDatasetState(address datatoken, DatasetState state) external;

    /// @notice Sets the consumer allowlist's Merkle root (OpenZeppelin StandardMerkleTree of `address`).
    function setAllowlist(address datatoken, bytes32 root) external;

    /// @notice Names the account that may update metadata besides the publisher (address(0): none).
    function setMetadataUpdater(address datatoken, address updater) external;

    /// @notice Allows or disallows `account` to mint; minters lapse when the dataset changes hands.
    function setMinter(address datatoken, address account, bool allowed) external;

    /// @notice Raises the privacy budget (micro-epsilon); it can never go down.
    function raisePrivacyBudget(address datatoken, uint48 newBudget) external;

    /// @notice Offers the dataset to `newPublisher`, who must accept it (address(0) withdraws the offer).
    function transferDataset(address datatoken, address newPublisher) external;

    /// @notice Takes a dataset offered to the caller: minters, the metadata updater and any pending
    /// provider change are cleared.
    function acceptDataset(address datatoken) external;

    /// @notice Names `newProvider` as the dataset's provider; it takes over once it calls acceptProvider.
    /// address(0) withdraws the offer.
    function proposeProvider(address datatoken, address newProvider) external;

    /// @notice The named provider takes the dataset over: from now on only its quotes and receipts count.
    function acceptProvider(address datatoken) external;

    /// @notice The dataset's publish-fee collector hands the role to `newCollector`.
    function setPublishFeeCollector(address datatoken, address newCollector) external;

    /// @notice Mints `amount` whole datatokens, by the publisher or a minter it named, up to the cap.
    function mint(address datatoken, address to, uint256 amount) external;

    // ------------------------------------------------------------------ consumer

    /// @notice Buys `amount` whole datatokens at the fixed price, paying in `paymentToken` (which must be
    /// the dataset's, else MarketPaymentTokenMismatch) at most `maxPrice` smallest units per datatoken.
    /// Send exactly the cost as value when paying in the native coin.
    function buy(address datatoken, uint256 amount, address paymentToken, uint256 maxPrice) external payable;

    /// @notice Takes `amount` whole datatokens from a free dataset's dispenser, within the caller's limit.
    function dispense(address datatoken, uint256 amount) external;

    /// @notice Burns one of the caller's datatokens for the service the quote names and pays the quote's
    /// fee (`quote.amount` smallest units of `quote.feeToken`).
    function startOrder(ProviderFee calldata quote, bytes calldata signature, bytes32[] calldata allowlistProof)
        external
        payable;

    /// @notice Buys one datatoken and orders with it, in one call (nothing is minted or burned). On a
    /// priced dataset `paymentToken` must be its payment token and the price at most `maxPrice`; on a
    /// free dataset both must be zero (else MarketIsFree) and the order counts against the caller's
    /// dispenser limit.
    function buyAndOrder(
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        address paymentToken,
        uint256 maxPrice
    ) external payable;

    /// @notice As buyAndOrder, first calling EIP-2612 permit on the payment token (`payment`) and, when
    /// the provider fee is in another token, on the fee token (`fee`). A zero deadline skips a permit.
    function buyAndOrderWithPermit(
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        address paymentToken,
        uint256 maxPrice,
        Permit calldata payment,
        Permit calldata fee
    ) external payable;

    /// @notice Pays out everything the caller earned in `token` (address(0) = native coin) to the caller.
    function withdraw(address token) external;

    /// @notice Pays out everything the caller earned in `token` to `to` (not zero, not the market).
    function withdrawTo(address token, address to) external;

    // ------------------------------------------------------------------ provider

    /// @notice Posts finished compute jobs' receipts of one dataset, charging each job's epsilon
    /// (micro-epsilon) to its budget. Only the dataset's current provider may post.
    function postComputeReceipts(address datatoken, ComputeReceipt[] calldata receipts) external;

    // ------------------------------------------------------------------ market owner

    /// @notice Sets the market fee (basis points of each sale, at most MAX_FEE_BPS) and its collector.
    function setMarketFee(address collector, uint16 bps) external;

    /// @notice Pauses or resumes every buy, dispense and order of the market.
    function setOrdersPaused(bool paused) external;
}
