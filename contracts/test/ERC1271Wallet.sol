// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice A minimal contract wallet (a one-owner stand-in for a multisig): a signature is valid for it
/// (ERC-1271) when its owner signed the hash with ECDSA, and the owner makes it call other contracts.
contract ERC1271Wallet is IERC1271 {
    error WalletNotOwner(address caller);

    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    /// @notice Calls `target` with `data` as this wallet (accepting a dataset's provider role, posting receipts).
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != owner) revert WalletNotOwner(msg.sender);
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }
}
