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

    /// @notice Everything a publisher sets in the one publish transaction.
    /// @dev Epsilon values are in micro-epsilon (1e-6), so 10 epsilon is 10_000_000.
    struct PublishParams {
        address provider; // the provider service that holds the content key and signs fee quotes
        uint8 services; // bit i set = service id i is offered (0 download, 1 compute, ...)
        bool free; // true: a dispenser hands out datatokens, no price
        uint16 publishFeeBps; // fee kept for the publishing market front-end, out of the price
        uint48 epsilonBudget; // the dataset's privacy budget for compute jobs
        address paymentToken; // address(0) = the chain's native coin
        uint96 price; // price of one datatoken in the payment token's smallest unit
        uint128 cap; // most datatokens in circulation at once; 0 = no cap
        uint128 dispenserMaxBalance; // free datasets: most datatokens an account may hold after a dispense
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

    /// @notice EIP-2612 permit arguments for the payment token.
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
        address datatoken;
        bytes32 orderTx; // hash of the transaction that emitted the job's OrderStarted
        bytes32 algorithmHash;
        bytes32 outputHash;
        uint48 epsilon; // micro-epsilon charged against the dataset's budget
        JobStatus status;
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
    error MarketNotForSale(address datatoken);
    error MarketNotFree(address datatoken);
    error MarketPriceAboveMax(uint256 price, uint256 maxPrice);
    error MarketZeroAmount();
    error MarketWrongValue(uint256 sent, uint256 expected);
    error MarketDispenserLimit(uint256 balanceAfter, uint256 maxBalance);
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
    /// @notice The dataset's fixed price was set (at publish or later).
    event PriceSet(address indexed datatoken, address indexed paymentToken, uint96 price, uint128 cap);
    /// @notice The dataset became free, with a dispenser limit (at publish or later).
    event DispenserSet(address indexed datatoken, uint128 maxBalance, uint128 cap);
    /// @notice The publish-market fee of a dataset was set at publish.
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
    event Bought(
        address indexed datatoken,
        address indexed buyer,
        address indexed paymentToken,
        uint256 amount,
        uint256 cost,
        uint256 marketFee,
        uint256 publishFee
    );
    /// @notice One datatoken was spent for one service of the dataset; the provider verifies this event.
    event OrderStarted(
        address indexed datatoken,
        address indexed consumer,
        address indexed provider,
        address payer,
        uint8 serviceId,
        address feeToken,
        uint256 feeAmount,
        uint64 validUntil,
        uint64 quoteNonce,
        bytes32 environment
    );
    /// @notice A compute job finished and was charged against the dataset's privacy budget.
    event ComputeReceiptPosted(
        bytes32 indexed jobId,
        address indexed datatoken,
        bytes32 indexed orderTx,
        bytes32 algorithmHash,
        bytes32 outputHash,
        uint48 epsilon,
        JobStatus status
    );
    /// @notice A payee took out what it had earned in one token.
    event EarningsWithdrawn(address indexed payee, address indexed token, uint256 amount);
    /// @notice The market owner changed the market fee.
    event MarketFeeSet(address indexed collector, uint16 bps);
    /// @notice The market owner paused or resumed all new buys and orders.
    event OrdersPausedSet(bool paused);

    // ------------------------------------------------------------------ publisher

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

    /// @notice Sets a fixed price; the dataset stops being free if it was.
    function setPrice(address datatoken, address paymentToken, uint96 price) external;

    /// @notice Makes the dataset free with a dispenser limit per account.
    function setDispenser(address datatoken, uint128 maxBalance) external;

    /// @notice Active <-> Paused, or either -> Retired (final).
    function setDatasetState(address datatoken, DatasetState state) external;

    /// @notice Sets the consumer allowlist's Merkle root (OpenZeppelin StandardMerkleTree of `address`).
    function setAllowlist(address datatoken, bytes32 root) external;

    function setMetadataUpdater(address datatoken, address updater) external;

    function setMinter(address datatoken, address account, bool allowed) external;

    /// @notice Raises the privacy budget; it can never go down.
    function raisePrivacyBudget(address datatoken, uint48 newBudget) external;

    function transferDataset(address datatoken, address newPublisher) external;

    function acceptDataset(address datatoken) external;

    /// @notice Mints datatokens, by the publisher or a minter it named, up to the cap.
    function mint(address datatoken, address to, uint256 amount) external;

    // ------------------------------------------------------------------ consumer

    /// @notice Buys `amount` datatokens at the fixed price, paying at most `maxPrice` per token.
    function buy(address datatoken, uint256 amount, uint256 maxPrice) external payable;

    /// @notice Takes `amount` datatokens from a free dataset's dispenser.
    function dispense(address datatoken, uint256 amount) external;

    /// @notice Spends one of the caller's datatokens on the service the quote names and pays the quote.
    function startOrder(ProviderFee calldata quote, bytes calldata signature, bytes32[] calldata allowlistProof)
        external
        payable;

    /// @notice Buys one datatoken and orders with it, in one call (nothing is minted or burned).
    function buyAndOrder(
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        uint256 maxPrice
    ) external payable;

    /// @notice As buyAndOrder, first calling the payment token's EIP-2612 permit.
    function buyAndOrderWithPermit(
        ProviderFee calldata quote,
        bytes calldata signature,
        bytes32[] calldata allowlistProof,
        uint256 maxPrice,
        Permit calldata permit
    ) external payable;

    /// @notice Pays out everything the caller earned in `token` (address(0) = native coin).
    function withdraw(address token) external;

    // ------------------------------------------------------------------ provider

    /// @notice Posts finished compute jobs' receipts, charging each job's epsilon to its dataset.
    function postComputeReceipts(ComputeReceipt[] calldata receipts) external;

    // ------------------------------------------------------------------ market owner

    function setMarketFee(address collector, uint16 bps) external;

    function setOrdersPaused(bool paused) external;
}
