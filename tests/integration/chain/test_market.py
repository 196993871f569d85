"""The market client against a real anvil: every write, read and custom error the client exposes."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address
from web3.exceptions import ContractCustomError

from datamarket.chain.events import (
    Bought,
    ComputeReceiptPosted,
    DatasetPublished,
    DatasetState,
    DatasetStateChanged,
    DatasetTransferred,
    DatasetTransferStarted,
    Dispensed,
    DispenserSet,
    EarningsWithdrawn,
    JobStatus,
    MarketFeeSet,
    MetadataUpdated,
    MetadataUpdaterSet,
    Minted,
    MintersCleared,
    MinterSet,
    OrderFunding,
    OrdersPausedSet,
    OrderStarted,
    PriceSet,
    PrivacyBudgetRaised,
    ProviderChanged,
    ProviderChangeStarted,
    PublishFeeSet,
    Transfer,
    decode_logs,
)
from datamarket.chain.market import (
    ComputeReceipt,
    Market,
    create2_datatoken,
    decode_revert,
    epsilon_units,
    new_salt,
)
from datamarket.chain.quotes import SERVICE_COMPUTE, SERVICE_DOWNLOAD, ZERO_ADDRESS, ZERO_HASH
from datamarket.errors import ContractRevert
from tests.conftest import MARKET_FEE_BPS, METADATA_CID, ONE, World, metadata_hash

pytestmark = pytest.mark.integration


def fees(cost: int, publish_fee_bps: int = 0) -> tuple[int, int, int]:
    """(market fee, publish fee, publisher's share) of a sale, rounded as the contract does."""
    market_fee = cost * MARKET_FEE_BPS // 10_000
    publish_fee = cost * publish_fee_bps // 10_000
    return market_fee, publish_fee, cost - market_fee - publish_fee


# ---------------------------------------------------------------------------------------------- deploy


def test_deploy_configures_the_market(world: World, market: Market) -> None:
    assert market.market_fee() == (world.accounts.fee_collector.address, MARKET_FEE_BPS)
    assert market.dataset_count() == 0
    assert market.orders_paused() is False
    assert market.contract.functions.owner().call() == world.accounts.owner.address
    implementation = market.contract.functions.datatokenImplementation().call()
    assert len(world.w3.eth.get_code(implementation)) > 0
    assert market.chain_id == 31337


def test_deploy_refuses_a_fee_above_the_maximum(world: World) -> None:
    error = world.expect_revert(
        "MarketFeeTooHigh", Market.deploy, world.w3, world.accounts.owner, fee_bps=1001
    )
    assert error.details == {"bps": 1001, "maxBps": 1000}


# ---------------------------------------------------------------------------------------------- publish


def test_publish_fixed_price_in_an_erc20(world: World, market: Market) -> None:
    a = world.accounts
    published = world.publish(price=7 * ONE, cap=100, epsilon_budget=3_000_000, services=0b01)
    dt = published.datatoken

    event = published.tx.event(DatasetPublished)
    assert (event.datatoken, event.publisher, event.provider) == (dt, a.publisher.address, a.provider.address)
    assert event.index == 0
    assert (event.services, event.epsilon_budget) == (0b01, 3_000_000)
    assert (event.metadata_hash, event.metadata_cid) == (metadata_hash(b"metadata document"), METADATA_CID)
    price_set = published.tx.event(PriceSet)
    assert (price_set.datatoken, price_set.payment_token, price_set.price, price_set.cap) == (
        dt, world.usd, 7 * ONE, 100,
    )  # fmt: skip
    assert not [e for e in published.tx.events if isinstance(e, DispenserSet | PublishFeeSet)]

    record = market.dataset(dt)
    assert record.publisher == a.publisher.address
    assert record.state is DatasetState.ACTIVE
    assert (record.free, record.capped, record.cap, record.price) == (False, True, 100, 7 * ONE)
    assert record.payment_token == world.usd
    assert (record.epsilon_budget, record.epsilon_spent) == (3_000_000, 0)
    assert record.allowlist_root == ZERO_HASH and record.has_allowlist is False

    token = market.datatoken(dt)
    assert token.functions.symbol().call() == "DT-0"
    assert token.functions.name().call() == "Datamarket Datatoken"
    assert token.functions.market().call() == market.address
    assert market.total_supply(dt) == 0
    assert market.dataset_count() == 1

    second = world.publish()
    assert second.tx.event(DatasetPublished).index == 1
    assert market.datatoken(second.datatoken).functions.symbol().call() == "DT-1"
    assert second.datatoken != dt


def test_publish_lands_on_the_predicted_address(world: World, market: Market) -> None:
    a = world.accounts
    salt = new_salt()
    predicted = market.predict_datatoken(a.publisher.address, salt)
    local = create2_datatoken(market.address, market.datatoken_implementation(), a.publisher.address, salt)
    assert predicted == local
    assert world.w3.eth.get_code(predicted) == b""

    published = world.publish(salt=salt)
    assert published.datatoken == predicted
    assert market.dataset(predicted).index == 0
    # Another publisher's same salt is another address; the publisher's own salt cannot be reused.
    other = world.publish(world.accounts.outsider, salt=salt)
    assert other.datatoken == market.predict_datatoken(world.accounts.outsider.address, salt) != predicted
    error = world.expect_revert("MarketDatatokenExists", world.publish, salt=salt)
    assert error.details == {"datatoken": predicted}
    assert market.dataset_count() == 2


def test_publish_native_coin_price(world: World, market: Market) -> None:
    published = world.publish(payment_token=ZERO_ADDRESS, price=ONE // 10)
    assert published.tx.event(PriceSet).payment_token == ZERO_ADDRESS
    record = market.dataset(published.datatoken)
    assert (record.payment_token, record.price, record.free) == (ZERO_ADDRESS, ONE // 10, False)


def test_publish_free_with_dispenser(world: World, market: Market) -> None:
    published = world.publish(free=True, dispenser_limit=2, cap=10)
    dispenser = published.tx.event(DispenserSet)
    assert (dispenser.datatoken, dispenser.limit, dispenser.cap) == (published.datatoken, 2, 10)
    assert not [e for e in published.tx.events if isinstance(e, PriceSet)]
    record = market.dataset(published.datatoken)
    # A free dataset keeps no price even when one was passed.
    assert (record.free, record.price, record.payment_token) == (True, 0, ZERO_ADDRESS)
    assert record.dispenser_limit == 2


def test_publish_with_publish_fee(world: World, market: Market) -> None:
    collector = world.accounts.publish_market.address
    published = world.publish(publish_fee_bps=250, publish_fee_collector=collector)
    fee = published.tx.event(PublishFeeSet)
    assert (fee.datatoken, fee.collector, fee.bps) == (published.datatoken, collector, 250)
    record = market.dataset(published.datatoken)
    assert (record.publish_fee_bps, record.publish_fee_collector) == (250, collector)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"provider": ZERO_ADDRESS}, "MarketZeroAddress"),
        ({"services": 0}, "MarketNoServices"),
        ({"metadata_cid": ""}, "MarketEmptyMetadata"),
        ({"metadata_hash": ZERO_HASH}, "MarketEmptyMetadata"),
        ({"publish_fee_bps": 1001, "publish_fee_collector": "0x" + "01" * 20}, "MarketFeeTooHigh"),
        ({"publish_fee_bps": 10}, "MarketZeroAddress"),
    ],
)
def test_publish_validates_its_parameters(world: World, market: Market, overrides: dict, code: str) -> None:
    world.expect_revert(code, world.publish, **overrides)
    assert market.dataset_count() == 0


# ---------------------------------------------------------------------------------------------- buy


def test_buy_with_an_erc20_splits_the_payment(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(
        price=3 * ONE, publish_fee_bps=250, publish_fee_collector=a.publish_market.address
    ).datatoken
    before = market.balance_of(world.usd, a.consumer.address)

    tx = world.as_(a.consumer).buy(dt, 4)

    cost = 12 * ONE
    market_fee, publish_fee, publisher_share = fees(cost, 250)
    bought = tx.event(Bought)
    assert (bought.datatoken, bought.buyer, bought.payment_token, bought.amount) == (
        dt, a.consumer.address, world.usd, 4,
    )  # fmt: skip
    assert (bought.cost, bought.market_fee, bought.publish_fee) == (cost, market_fee, publish_fee)
    mint = tx.event(Transfer)
    assert (mint.meta.address, mint.from_, mint.to, mint.value) == (dt, ZERO_ADDRESS, a.consumer.address, 4)

    assert market.balance_of(world.usd, a.consumer.address) == before - cost
    assert market.balance_of(world.usd, market.address) == cost
    assert market.earnings(world.usd, a.fee_collector.address) == market_fee == cost // 100
    assert market.earnings(world.usd, a.publish_market.address) == publish_fee == cost * 25 // 1000
    assert market.earnings(world.usd, a.publisher.address) == publisher_share
    assert market.balance_of(dt, a.consumer.address) == 4
    assert market.total_supply(dt) == 4


def test_buy_with_the_native_coin(world: World, market: Market) -> None:
    a = world.accounts
    price = ONE // 4
    dt = world.publish(payment_token=ZERO_ADDRESS, price=price).datatoken
    before = world.w3.eth.get_balance(a.consumer.address)

    tx = world.as_(a.consumer).buy(dt, 2)

    spent = before - world.w3.eth.get_balance(a.consumer.address)
    assert spent == 2 * price + world.gas_cost(tx.tx_hash)
    assert world.w3.eth.get_balance(market.address) == 2 * price
    market_fee, _, publisher_share = fees(2 * price)
    assert market.earnings(ZERO_ADDRESS, a.fee_collector.address) == market_fee
    assert market.earnings(ZERO_ADDRESS, a.publisher.address) == publisher_share
    assert tx.event(Bought).payment_token == ZERO_ADDRESS
    assert market.balance_of(dt, a.consumer.address) == 2


def test_buy_refusals(world: World, market: Market) -> None:
    a = world.accounts
    consumer = world.as_(a.consumer)
    dt = world.publish(price=5 * ONE, cap=3).datatoken
    free = world.publish(free=True, dispenser_limit=1).datatoken

    assert world.expect_revert("MarketPriceAboveMax", consumer.buy, dt, 1, max_price=5 * ONE - 1).details == {
        "price": 5 * ONE,
        "maxPrice": 5 * ONE - 1,
    }
    assert world.expect_revert("MarketIsFree", consumer.buy, free).details == {"datatoken": free}
    # The buyer names the token it pays in: another token with the same price is refused.
    error = world.expect_revert("MarketPaymentTokenMismatch", consumer.buy, dt, 1, payment_token=world.eur)
    assert error.details == {"expected": world.eur, "actual": world.usd}
    world.expect_revert("MarketZeroAmount", consumer.buy, dt, 0)
    assert world.expect_revert("DatatokenCapExceeded", consumer.buy, dt, 4).details == {"supply": 4, "cap": 3}
    unknown = to_checksum_address("0x" + "77" * 20)
    assert world.expect_revert("MarketUnknownDataset", consumer.buy, unknown).details == {
        "datatoken": unknown
    }
    assert market.total_supply(dt) == 0
    assert market.balance_of(world.usd, market.address) == 0


def test_the_client_approves_exactly_what_a_purchase_takes(world: World, market: Market) -> None:
    a = world.accounts
    stranger = world.as_(a.stranger)  # no allowance given to the market before
    dt = world.publish(price=3 * ONE).datatoken
    stranger.buy(dt, 2)
    assert market.allowance(world.usd, a.stranger.address) == 0
    quote, signature = world.quote(dt, consumer=a.stranger.address, fee_token=world.eur, amount=ONE)
    stranger.buy_and_order(quote, signature)
    assert market.allowance(world.usd, a.stranger.address) == 0
    assert market.allowance(world.eur, a.stranger.address) == 0


def test_buy_with_the_wrong_native_value_is_refused(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(payment_token=ZERO_ADDRESS, price=1000).datatoken
    call = market.contract.functions.buy(dt, 2, ZERO_ADDRESS, 1000)
    with pytest.raises(ContractCustomError) as caught:
        call.call({"from": a.consumer.address, "value": 1999})
    revert = decode_revert(caught.value.data)
    assert (revert.code, revert.details) == ("MarketWrongValue", {"sent": 1999, "expected": 2000})


# ---------------------------------------------------------------------------------------------- dispense


def test_dispense_up_to_the_limit(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(free=True, dispenser_limit=2).datatoken
    consumer = world.as_(a.consumer)

    tx = consumer.dispense(dt)
    dispensed = tx.event(Dispensed)
    assert (dispensed.datatoken, dispensed.to, dispensed.amount) == (dt, a.consumer.address, 1)
    error = world.expect_revert("MarketDispenserLimit", consumer.dispense, dt, 2)
    assert error.details == {"receivedAfter": 3, "limit": 2}
    consumer.dispense(dt)
    world.expect_revert("MarketDispenserLimit", consumer.dispense, dt)
    assert market.balance_of(dt, a.consumer.address) == 2
    # The limit counts what the account received in all: giving the tokens away does not reset it.
    consumer.transfer(dt, a.stranger.address, 2)
    assert market.balance_of(dt, a.consumer.address) == 0
    assert world.expect_revert("MarketDispenserLimit", consumer.dispense, dt).details == {
        "receivedAfter": 3, "limit": 2,
    }  # fmt: skip
    assert market.dispensed(dt, a.consumer.address) == 2

    # The limit is per account, not per dataset.
    world.as_(a.consumer2).dispense(dt, 2)
    assert market.total_supply(dt) == 4

    priced = world.publish().datatoken
    assert world.expect_revert("MarketNotFree", consumer.dispense, priced).details == {"datatoken": priced}


# ---------------------------------------------------------------------------------------------- orders


def test_start_order_with_an_erc20_fee(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    consumer = world.as_(a.consumer)
    consumer.buy(dt)
    usd_before = market.balance_of(world.usd, a.consumer.address)
    quote, signature = world.quote(dt, fee_token=world.usd, amount=2 * ONE)
    assert market.is_quote_used(a.provider.address, quote.nonce) is False

    tx = consumer.start_order(quote, signature)

    order = tx.event(OrderStarted)
    assert order == OrderStarted(
        meta=order.meta,
        datatoken=dt,
        consumer=a.consumer.address,
        provider=a.provider.address,
        order_id=market.order_count() - 1,
        payer=a.consumer.address,
        funding=OrderFunding.BURNED,
        service_id=SERVICE_DOWNLOAD,
        fee_token=world.usd,
        fee_amount=2 * ONE,
        quote_nonce=quote.nonce,
        environment=ZERO_HASH,
    )
    assert (order.meta.address, order.meta.tx_hash, order.meta.block_number) == (
        market.address, tx.tx_hash, tx.block_number,
    )  # fmt: skip
    assert order.meta.block_hash == "0x" + world.w3.eth.get_block(tx.block_number)["hash"].hex().removeprefix(
        "0x"
    )
    burn = tx.event(Transfer)
    assert (burn.meta.address, burn.from_, burn.to, burn.value) == (dt, a.consumer.address, ZERO_ADDRESS, 1)
    assert market.total_supply(dt) == 0
    assert market.balance_of(world.usd, a.consumer.address) == usd_before - 2 * ONE
    assert market.earnings(world.usd, a.provider.address) == 2 * ONE
    assert market.is_quote_used(a.provider.address, quote.nonce) is True


def test_start_order_for_compute_with_a_native_fee(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(services=0b11).datatoken
    consumer = world.as_(a.consumer)
    consumer.buy(dt)
    environment = "0x" + keccak(text="gpu-env-1").hex()
    quote, signature = world.quote(
        dt, service_id=SERVICE_COMPUTE, fee_token=ZERO_ADDRESS, amount=ONE // 100, environment=environment
    )

    order = consumer.start_order(quote, signature).event(OrderStarted)

    assert (order.service_id, order.environment, order.fee_token, order.fee_amount) == (
        SERVICE_COMPUTE, environment, ZERO_ADDRESS, ONE // 100,
    )  # fmt: skip
    assert market.earnings(ZERO_ADDRESS, a.provider.address) == ONE // 100
    assert world.w3.eth.get_balance(market.address) == ONE // 100


def test_an_order_paid_by_someone_else_names_both(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    payer = world.as_(a.consumer2)
    payer.buy(dt)
    quote, signature = world.quote(dt, consumer=a.consumer.address)
    order = payer.start_order(quote, signature).event(OrderStarted)
    assert (order.consumer, order.payer, order.fee_amount) == (a.consumer.address, a.consumer2.address, 0)


def test_replayed_quote_is_refused(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    consumer = world.as_(a.consumer)
    consumer.buy(dt, 2)
    quote, signature = world.quote(dt, fee_token=world.usd, amount=ONE)
    consumer.start_order(quote, signature)

    error = world.expect_revert("MarketQuoteUsed", consumer.start_order, quote, signature)
    assert error.details == {"provider": a.provider.address, "nonce": quote.nonce}
    assert market.balance_of(dt, a.consumer.address) == 1
    assert market.earnings(world.usd, a.provider.address) == ONE


def test_expired_quote_is_refused(world: World) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    consumer = world.as_(a.consumer)
    consumer.buy(dt)
    valid_until = world.now() - 1
    quote, signature = world.quote(dt, valid_until=valid_until)
    error = world.expect_revert("MarketQuoteExpired", consumer.start_order, quote, signature)
    assert error.details["validUntil"] == valid_until
    assert error.details["nowTime"] > valid_until


def test_quote_signed_by_someone_else_is_refused(world: World) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    consumer = world.as_(a.consumer)
    consumer.buy(dt)
    quote, signature = world.quote(dt, signer=a.outsider)
    error = world.expect_revert("MarketQuoteSignerMismatch", consumer.start_order, quote, signature)
    assert error.details == {"signer": a.outsider.address, "provider": a.provider.address}


def test_a_quote_changed_after_signing_is_refused(world: World) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    consumer = world.as_(a.consumer)
    consumer.buy(dt)
    quote, signature = world.quote(dt, fee_token=world.usd, amount=ONE)
    cheaper = type(quote)(**{**quote.to_json(), "amount": 1})
    error = world.expect_revert("MarketQuoteSignerMismatch", consumer.start_order, cheaper, signature)
    assert error.details["provider"] == a.provider.address
    assert error.details["signer"] != a.provider.address


def test_order_refusals(world: World, market: Market) -> None:
    a = world.accounts
    download_only = world.publish(services=0b01).datatoken
    consumer = world.as_(a.consumer)
    quote, signature = world.quote(download_only)
    # No datatoken to spend: the burn fails first.
    error = world.expect_revert("ERC20InsufficientBalance", consumer.start_order, quote, signature)
    assert error.details == {"sender": a.consumer.address, "balance": 0, "needed": 1}

    consumer.buy(download_only)
    quote, signature = world.quote(download_only, service_id=SERVICE_COMPUTE)
    error = world.expect_revert("MarketServiceNotOffered", consumer.start_order, quote, signature)
    assert error.details == {"datatoken": download_only, "serviceId": SERVICE_COMPUTE}
    assert market.balance_of(download_only, a.consumer.address) == 1


def test_buy_and_order_in_one_transaction(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(price=5 * ONE).datatoken
    before = market.balance_of(world.usd, a.consumer.address)
    quote, signature = world.quote(dt, fee_token=world.eur, amount=ONE)
    eur_before = market.balance_of(world.eur, a.consumer.address)

    tx = world.as_(a.consumer).buy_and_order(quote, signature)

    assert tx.event(Bought).amount == 1
    assert tx.event(OrderStarted).quote_nonce == quote.nonce
    assert not [e for e in tx.events if isinstance(e, Transfer) and e.meta.address == dt]
    assert market.total_supply(dt) == 0
    assert market.balance_of(world.usd, a.consumer.address) == before - 5 * ONE
    assert market.balance_of(world.eur, a.consumer.address) == eur_before - ONE
    assert market.earnings(world.eur, a.provider.address) == ONE
    assert market.earnings(world.usd, a.publisher.address) == fees(5 * ONE)[2]


def test_buy_and_order_with_native_price_and_fee(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(payment_token=ZERO_ADDRESS, price=1000).datatoken
    quote, signature = world.quote(dt, fee_token=ZERO_ADDRESS, amount=300)
    before = world.w3.eth.get_balance(a.consumer.address)

    tx = world.as_(a.consumer).buy_and_order(quote, signature)

    assert before - world.w3.eth.get_balance(a.consumer.address) == 1300 + world.gas_cost(tx.tx_hash)
    assert world.w3.eth.get_balance(market.address) == 1300
    assert market.earnings(ZERO_ADDRESS, a.provider.address) == 300
    assert market.earnings(ZERO_ADDRESS, a.publisher.address) == 1000 - 10


def test_buy_and_order_on_a_free_dataset_needs_a_dispenser(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(free=True, dispenser_limit=1).datatoken
    quote, signature = world.quote(dt)
    consumer = world.as_(a.consumer)
    tx = consumer.buy_and_order(quote, signature)
    assert [type(e) for e in tx.events] == [OrderStarted]
    assert tx.event(OrderStarted).funding is OrderFunding.FREE
    assert market.total_supply(dt) == 0 and market.dispensed(dt, a.consumer.address) == 1
    # A free order counts against the account's dispenser limit.
    quote, signature = world.quote(dt)
    error = world.expect_revert("MarketDispenserLimit", consumer.buy_and_order, quote, signature)
    assert error.details == {"receivedAfter": 2, "limit": 1}
    # A buyer ready to pay for a dataset that became free is refused rather than surprised.
    error = world.expect_revert(
        "MarketIsFree", consumer.buy_and_order, quote, signature, payment_token=world.usd, max_price=ONE
    )
    assert error.details == {"datatoken": dt}

    closed = world.publish(free=True, dispenser_limit=0).datatoken
    quote, signature = world.quote(closed)
    error = world.expect_revert("MarketDispenserLimit", consumer.buy_and_order, quote, signature)
    assert error.details == {"receivedAfter": 1, "limit": 0}


def test_buy_and_order_with_permit_needs_no_approve(world: World, market: Market) -> None:
    a = world.accounts
    stranger = world.as_(a.stranger)
    dt = world.publish(price=5 * ONE).datatoken
    usd = world.w3.eth.contract(address=world.usd, abi=market.datatoken(dt).abi)
    assert usd.functions.allowance(a.stranger.address, market.address).call() == 0
    quote, signature = world.quote(dt, consumer=a.stranger.address, fee_token=world.usd, amount=ONE)

    # Without the permit the transfer has no allowance.
    world.expect_revert("ERC20InsufficientAllowance", stranger.buy_and_order, quote, signature, approve=False)

    before = market.balance_of(world.usd, a.stranger.address)
    tx = stranger.buy_and_order(quote, signature, permit_deadline=world.now() + 600)

    assert tx.event(OrderStarted).payer == a.stranger.address
    assert market.balance_of(world.usd, a.stranger.address) == before - 6 * ONE
    # The permit was for exactly price + fee, and all of it was used.
    assert usd.functions.allowance(a.stranger.address, market.address).call() == 0
    assert usd.functions.nonces(a.stranger.address).call() == 1
    assert market.earnings(world.usd, a.provider.address) == ONE


# ---------------------------------------------------------------------------------------------- withdraw


def test_withdraw_erc20_earnings(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(price=10 * ONE).datatoken
    world.as_(a.consumer).buy(dt)
    share = fees(10 * ONE)[2]
    publisher = world.as_(a.publisher)
    before = market.balance_of(world.usd, a.publisher.address)

    tx = publisher.withdraw(world.usd)

    withdrawn = tx.event(EarningsWithdrawn)
    assert (withdrawn.payee, withdrawn.token, withdrawn.amount) == (a.publisher.address, world.usd, share)
    assert market.balance_of(world.usd, a.publisher.address) == before + share
    assert market.earnings(world.usd, a.publisher.address) == 0
    assert market.balance_of(world.usd, market.address) == 10 * ONE - share
    error = world.expect_revert("MarketNothingToWithdraw", publisher.withdraw, world.usd)
    assert error.details == {"token": world.usd, "payee": a.publisher.address}


def test_withdraw_native_earnings(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(payment_token=ZERO_ADDRESS, price=ONE).datatoken
    world.as_(a.consumer).buy(dt)
    before = world.w3.eth.get_balance(a.fee_collector.address)

    tx = world.as_(a.fee_collector).withdraw()

    assert tx.event(EarningsWithdrawn).amount == ONE // 100
    gained = world.w3.eth.get_balance(a.fee_collector.address) - before
    assert gained == ONE // 100 - world.gas_cost(tx.tx_hash)
    assert world.w3.eth.get_balance(market.address) == ONE - ONE // 100


# ---------------------------------------------------------------------------------------------- publisher


def test_metadata_update_by_publisher_and_named_updater(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    new_hash = metadata_hash(b"metadata v2")

    tx = world.as_(a.publisher).update_metadata(dt, "bafy-v2", new_hash)
    updated = tx.event(MetadataUpdated)
    assert (updated.datatoken, updated.updated_by, updated.metadata_hash, updated.metadata_cid) == (
        dt, a.publisher.address, new_hash, "bafy-v2",
    )  # fmt: skip
    assert market.dataset(dt).metadata_hash == new_hash

    outsider = world.as_(a.outsider)
    error = world.expect_revert("MarketNotMetadataUpdater", outsider.update_metadata, dt, "x", new_hash)
    assert error.details == {"caller": a.outsider.address}
    named = world.as_(a.publisher).set_metadata_updater(dt, a.outsider.address).event(MetadataUpdaterSet)
    assert (named.datatoken, named.updater) == (dt, a.outsider.address)
    v3 = metadata_hash(b"metadata v3")
    assert outsider.update_metadata(dt, "bafy-v3", v3).event(MetadataUpdated).updated_by == a.outsider.address
    assert market.contract.functions.metadataUpdater(dt).call() == a.outsider.address
    world.expect_revert("MarketEmptyMetadata", outsider.update_metadata, dt, "", v3)
    assert market.dataset(dt).metadata_hash == v3


def test_dataset_state_changes(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    publisher = world.as_(a.publisher)
    consumer = world.as_(a.consumer)

    changed = publisher.set_state(dt, DatasetState.PAUSED).event(DatasetStateChanged)
    assert (changed.datatoken, changed.from_, changed.to) == (dt, DatasetState.ACTIVE, DatasetState.PAUSED)
    assert market.dataset(dt).state is DatasetState.PAUSED
    error = world.expect_revert("MarketDatasetNotActive", consumer.buy, dt)
    assert error.details == {"datatoken": dt, "state": int(DatasetState.PAUSED)}

    publisher.set_state(dt, DatasetState.ACTIVE)
    consumer.buy(dt)
    publisher.set_state(dt, DatasetState.RETIRED)
    error = world.expect_revert("MarketInvalidStateTransition", publisher.set_state, dt, DatasetState.ACTIVE)
    assert error.details == {"from": int(DatasetState.RETIRED), "to": int(DatasetState.ACTIVE)}
    world.expect_revert("MarketNotPublisher", world.as_(a.outsider).set_state, dt, DatasetState.PAUSED)
    quote, signature = world.quote(dt)
    world.expect_revert("MarketDatasetNotActive", consumer.start_order, quote, signature)
    assert market.dataset(dt).state is DatasetState.RETIRED


def test_orders_paused_by_the_market_owner(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    assert market.set_orders_paused(True).event(OrdersPausedSet).paused is True
    assert market.orders_paused() is True
    world.expect_revert("MarketOrdersPaused", world.as_(a.consumer).buy, dt)
    error = world.expect_revert("OwnableUnauthorizedAccount", world.as_(a.outsider).set_orders_paused, False)
    assert error.details == {"account": a.outsider.address}
    market.set_orders_paused(False)
    world.as_(a.consumer).buy(dt)
    assert market.balance_of(dt, a.consumer.address) == 1


def test_switching_between_price_and_dispenser(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(price=ONE).datatoken
    publisher = world.as_(a.publisher)
    consumer = world.as_(a.consumer)
    consumer.buy(dt)
    dispenser = publisher.set_dispenser(dt, 3).event(DispenserSet)
    assert (dispenser.limit, dispenser.cap) == (3, 0)
    record = market.dataset(dt)
    assert (record.free, record.payment_token, record.price, record.dispenser_limit) == (
        True,
        ZERO_ADDRESS,
        0,
        3,
    )
    consumer.dispense(dt, 3)
    # Tokens handed out free would order a priced dataset at no cost: the switch waits for them.
    error = world.expect_revert("MarketFreeTokensOutstanding", publisher.set_price, dt, world.eur, 2 * ONE)
    assert error.details == {"datatoken": dt, "supply": 4}
    for _ in range(4):
        consumer.start_order(*world.quote(dt))
    price = publisher.set_price(dt, world.eur, 2 * ONE).event(PriceSet)
    assert (price.payment_token, price.price) == (world.eur, 2 * ONE)
    record = market.dataset(dt)
    assert (record.free, record.payment_token, record.price, record.dispenser_limit) == (
        False,
        world.eur,
        2 * ONE,
        0,
    )
    consumer.buy(dt)
    assert market.earnings(world.eur, a.publisher.address) == fees(2 * ONE)[2]
    assert market.balance_of(dt, a.consumer.address) == 1


def test_minters_and_caps(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(cap=5).datatoken
    minted = world.as_(a.publisher).mint(dt, a.consumer.address, 2).event(Minted)
    assert (minted.by, minted.to, minted.amount) == (a.publisher.address, a.consumer.address, 2)
    outsider = world.as_(a.outsider)
    world.expect_revert("MarketNotMinter", outsider.mint, dt, a.outsider.address, 1)
    allowed = world.as_(a.publisher).set_minter(dt, a.outsider.address, True).event(MinterSet)
    assert (allowed.account, allowed.allowed) == (a.outsider.address, True)
    assert outsider.mint(dt, a.outsider.address, 3).event(Minted).by == a.outsider.address
    world.expect_revert("DatatokenCapExceeded", outsider.mint, dt, a.outsider.address, 1)
    assert market.total_supply(dt) == 5


def test_dataset_transfer_is_two_step(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    started = world.as_(a.publisher).transfer_dataset(dt, a.consumer2.address).event(DatasetTransferStarted)
    assert (started.from_, started.to) == (a.publisher.address, a.consumer2.address)
    assert market.dataset(dt).publisher == a.publisher.address
    error = world.expect_revert("MarketNotPendingPublisher", world.as_(a.outsider).accept_dataset, dt)
    assert error.details == {"caller": a.outsider.address}

    done = world.as_(a.consumer2).accept_dataset(dt).event(DatasetTransferred)
    assert (done.from_, done.to) == (a.publisher.address, a.consumer2.address)
    assert market.dataset(dt).publisher == a.consumer2.address
    error = world.expect_revert("MarketNotPublisher", world.as_(a.publisher).set_price, dt, world.usd, 1)
    assert error.details == {"caller": a.publisher.address, "publisher": a.consumer2.address}


def test_minters_and_the_updater_lapse_when_the_dataset_changes_hands(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    first = world.as_(a.publisher)
    first.set_minter(dt, a.outsider.address, True)
    first.set_metadata_updater(dt, a.stranger.address)
    first.transfer_dataset(dt, a.consumer2.address)
    tx = world.as_(a.consumer2).accept_dataset(dt)
    assert [type(e) for e in tx.events] == [DatasetTransferred, MintersCleared, MetadataUpdaterSet]
    assert tx.event(MetadataUpdaterSet).updater == ZERO_ADDRESS
    # Back to the first publisher: its earlier minter does not come back with it.
    world.as_(a.consumer2).transfer_dataset(dt, a.publisher.address)
    first.accept_dataset(dt)
    assert market.is_minter(dt, a.outsider.address) is False
    assert market.metadata_updater(dt) == ZERO_ADDRESS
    world.expect_revert("MarketNotMinter", world.as_(a.outsider).mint, dt, a.outsider.address, 1)


def test_the_provider_changes_in_two_steps(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    publisher, new = world.as_(a.publisher), world.as_(a.stranger)
    started = publisher.propose_provider(dt, a.stranger.address).event(ProviderChangeStarted)
    assert (started.provider, started.new_provider) == (a.provider.address, a.stranger.address)
    assert market.pending_provider(dt) == a.stranger.address
    error = world.expect_revert("MarketNotPendingProvider", world.as_(a.outsider).accept_provider, dt)
    assert error.details == {"caller": a.outsider.address}
    old_quote = world.quote(dt)  # signed by the provider still in charge
    changed = new.accept_provider(dt).event(ProviderChanged)
    assert (changed.from_, changed.to) == (a.provider.address, a.stranger.address)
    assert (market.dataset(dt).provider, market.pending_provider(dt)) == (a.stranger.address, ZERO_ADDRESS)
    world.expect_revert("MarketQuoteSignerMismatch", world.as_(a.consumer).buy_and_order, *old_quote)
    order = world.as_(a.consumer).buy_and_order(*world.quote(dt, signer=a.stranger)).event(OrderStarted)
    assert order.provider == a.stranger.address


def test_earnings_can_be_withdrawn_to_another_address(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(price=10 * ONE).datatoken
    world.as_(a.consumer).buy(dt)
    share = fees(10 * ONE)[2]
    before = market.balance_of(world.usd, a.outsider.address)
    withdrawn = world.as_(a.publisher).withdraw_to(world.usd, a.outsider.address).event(EarningsWithdrawn)
    assert (withdrawn.payee, withdrawn.to, withdrawn.amount) == (
        a.publisher.address,
        a.outsider.address,
        share,
    )
    assert market.balance_of(world.usd, a.outsider.address) == before + share
    world.expect_revert("MarketZeroAddress", world.as_(a.fee_collector).withdraw_to, world.usd, ZERO_ADDRESS)


def test_market_fee_change_applies_to_the_next_sale(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(price=ONE).datatoken
    fee_set = market.set_market_fee(a.outsider.address, 1000).event(MarketFeeSet)
    assert (fee_set.collector, fee_set.bps) == (a.outsider.address, 1000)
    assert market.market_fee() == (a.outsider.address, 1000)
    world.as_(a.consumer).buy(dt)
    assert market.earnings(world.usd, a.outsider.address) == ONE // 10
    assert market.earnings(world.usd, a.fee_collector.address) == 0
    world.expect_revert("MarketFeeTooHigh", market.set_market_fee, a.outsider.address, 1001)
    world.expect_revert("MarketZeroAddress", market.set_market_fee, ZERO_ADDRESS, 10)


def test_unknown_dataset_reads_as_state_none(world: World, market: Market) -> None:
    record = market.dataset("0x" + "99" * 20)
    assert record.state is DatasetState.NONE
    assert record.publisher == ZERO_ADDRESS


def test_revert_exceptions_are_contract_reverts(world: World) -> None:
    dt = world.publish().datatoken
    with pytest.raises(ContractRevert) as caught:
        world.as_(world.accounts.consumer).buy(dt, 0)
    assert caught.value.code == "MarketZeroAmount"
    assert caught.value.details == {}


# ---------------------------------------------------------------------------------------------- receipts


def receipt_for(
    datatoken: str, epsilon: int, job: int, status: JobStatus = JobStatus.SUCCEEDED
) -> ComputeReceipt:
    return ComputeReceipt(
        job_id="0x" + keccak(text=f"job-{job}").hex(),
        datatoken=datatoken,
        order_id=job,
        algorithm_hash="0x" + keccak(text="algorithm").hex(),
        output_hash="0x" + keccak(text=f"output-{job}").hex(),
        epsilon=epsilon,
        status=status,
    )


def test_compute_receipts_are_charged_to_the_budget(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(epsilon_budget=epsilon_units(10)).datatoken
    provider = world.as_(a.provider)
    batch = [
        receipt_for(dt, epsilon_units("1.5"), 1),
        receipt_for(dt, epsilon_units(2), 2, JobStatus.FAILED),
        receipt_for(dt, epsilon_units("0.000001"), 3, JobStatus.CANCELLED),
    ]

    tx = provider.post_compute_receipts(batch)

    posted = [e for e in tx.events if isinstance(e, ComputeReceiptPosted)]
    assert [
        (e.job_id, e.datatoken, e.order_id, e.algorithm_hash, e.output_hash, e.epsilon, e.status)
        for e in posted
    ] == [(r.job_id, dt, r.order_id, r.algorithm_hash, r.output_hash, r.epsilon, r.status) for r in batch]
    # Each receipt names its poster and what the dataset has spent after it.
    assert {e.poster for e in posted} == {a.provider.address}
    assert [e.spent_after for e in posted] == [1_500_000, 3_500_000, 3_500_001]
    assert market.dataset(dt).epsilon_spent == 3_500_001


def test_a_batch_over_budget_is_refused_whole(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish(epsilon_budget=epsilon_units(10)).datatoken
    provider = world.as_(a.provider)
    provider.post_compute_receipts([receipt_for(dt, epsilon_units(6), 1)])

    over = [receipt_for(dt, epsilon_units(3), 2), receipt_for(dt, epsilon_units(2), 3)]
    error = world.expect_revert("MarketBudgetExceeded", provider.post_compute_receipts, over)
    assert error.details == {"datatoken": dt, "spent": epsilon_units(11), "budget": epsilon_units(10)}
    assert market.dataset(dt).epsilon_spent == epsilon_units(6)

    raised = world.as_(a.publisher).raise_privacy_budget(dt, epsilon_units(20)).event(PrivacyBudgetRaised)
    assert (raised.datatoken, raised.from_, raised.to) == (dt, epsilon_units(10), epsilon_units(20))
    provider.post_compute_receipts(over)
    record = market.dataset(dt)
    assert (record.epsilon_spent, record.epsilon_budget) == (epsilon_units(11), epsilon_units(20))
    error = world.expect_revert("MarketBudgetDecrease", world.as_(a.publisher).raise_privacy_budget, dt, 5)
    assert error.details == {"budget": epsilon_units(20), "requested": 5}


def test_a_batch_holds_one_dataset(world: World, market: Market) -> None:
    a = world.accounts
    first = world.publish(epsilon_budget=epsilon_units(5)).datatoken
    second = world.publish(epsilon_budget=epsilon_units(5)).datatoken
    batch = [receipt_for(first, epsilon_units(1), 1), receipt_for(second, epsilon_units(2), 2)]
    with pytest.raises(ValueError, match="one dataset"):
        world.as_(a.provider).post_compute_receipts(batch)
    world.as_(a.provider).post_compute_receipts([receipt_for(second, epsilon_units(2), 2)])
    assert market.dataset(first).epsilon_spent == 0
    assert market.dataset(second).epsilon_spent == epsilon_units(2)


def test_receipt_refusals(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    error = world.expect_revert(
        "MarketNotProvider", world.as_(a.outsider).post_compute_receipts, [receipt_for(dt, 1, 1)]
    )
    assert error.details == {"caller": a.outsider.address, "provider": a.provider.address}
    empty = world.as_(a.provider).contract.functions.postComputeReceipts(dt, [])
    with pytest.raises(ContractCustomError) as caught:
        empty.call({"from": a.provider.address})
    assert decode_revert(caught.value.data).code == "MarketEmptyBatch"
    unknown = "0x" + "55" * 20
    world.expect_revert("MarketUnknownDataset", world.as_(a.provider).post_compute_receipts,
                        [receipt_for(unknown, 1, 1)])  # fmt: skip
    assert market.dataset(dt).epsilon_spent == 0


def test_minters_lapse_when_the_dataset_changes_hands(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    world.as_(a.publisher).set_minter(dt, a.outsider.address, True)
    assert market.contract.functions.isMinter(dt, a.outsider.address).call() is True
    world.as_(a.publisher).transfer_dataset(dt, a.consumer2.address)
    world.as_(a.consumer2).accept_dataset(dt)

    assert market.contract.functions.isMinter(dt, a.outsider.address).call() is False
    error = world.expect_revert("MarketNotMinter", world.as_(a.outsider).mint, dt, a.outsider.address, 1)
    assert error.details == {"caller": a.outsider.address}
    world.as_(a.consumer2).mint(dt, a.consumer2.address, 2)
    assert market.total_supply(dt) == 2


def test_no_minting_once_retired(world: World, market: Market) -> None:
    a = world.accounts
    dt = world.publish().datatoken
    publisher = world.as_(a.publisher)
    publisher.set_state(dt, DatasetState.PAUSED)
    publisher.mint(dt, a.consumer.address, 1)  # a paused dataset's publisher may still mint
    publisher.set_state(dt, DatasetState.RETIRED)
    error = world.expect_revert("MarketDatasetNotActive", publisher.mint, dt, a.consumer.address, 1)
    assert error.details == {"datatoken": dt, "state": int(DatasetState.RETIRED)}
    assert market.total_supply(dt) == 1


@pytest.mark.parametrize(("fee_token", "transfers"), [("usd", 1), ("eur", 2)])
def test_buy_and_order_pulls_price_and_fee_in_one_transfer_per_token(
    world: World, market: Market, fee_token: str, transfers: int
) -> None:
    a = world.accounts
    dt = world.publish(price=5 * ONE).datatoken
    token = getattr(world, fee_token)
    quote, signature = world.quote(dt, fee_token=token, amount=ONE)
    tx = world.as_(a.consumer).buy_and_order(quote, signature)

    payments = [
        (e.meta.address, e.from_, e.to, e.value)
        for e in decode_logs(world.receipt(tx.tx_hash)["logs"])
        if isinstance(e, Transfer) and e.meta.address in (world.usd, world.eur)
    ]
    if transfers == 1:
        assert payments == [(world.usd, a.consumer.address, market.address, 6 * ONE)]
    else:
        assert sorted(payments) == sorted([(world.usd, a.consumer.address, market.address, 5 * ONE),
                                           (world.eur, a.consumer.address, market.address, ONE)])  # fmt: skip
