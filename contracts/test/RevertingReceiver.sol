// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice A payee that refuses native coin, and can call the market to withdraw or reenter it.
contract RevertingReceiver {
    function call(address target, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        revert("no coin");
    }
}
