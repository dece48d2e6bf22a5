// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {CreditLine} from "../src/examples/CreditLine.sol";
import {IModelRegistry} from "../src/IModelRegistry.sol";
import {OwnableNoRenounce} from "../src/OwnableNoRenounce.sol";
import {ZkmlConsumer} from "../src/ZkmlConsumer.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Felt} from "./utils/Felt.sol";
import {Cheats, Test} from "./utils/Test.sol";
import {Vm} from "./utils/Vm.sol";

/// @dev forge prints `console.log` calls of a test (`-vv`); the address is forge-std's.
library CreditConsole {
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }
}

/// @title What the credit suites share: keys, terms, attestations and instances
/// @dev TEST ONLY.
abstract contract CreditFixture is Cheats {
    /// @dev Fixed-point bits of the credit circuit's output (models/credit.py builds at 7).
    uint8 internal constant OUTPUT_SCALE = 7;
    /// @dev secp256k1 group order: a signature with s > N/2 is a malleable copy.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    bytes internal constant PROOF = hex"c0ffee";

    uint256 internal constant ATTESTER_KEY = 0xA77E57;
    uint256 internal constant STRANGER_KEY = 0x5757;

    /// @dev Limits 1 000 .. 50 000, rates 3 % .. 24 % a year, declined from a PD of 20 %.
    function _defaultTerms() internal pure returns (CreditLine.Terms memory) {
        return
            CreditLine.Terms({
                minLimit: 1_000, maxLimit: 50_000, minRateBps: 300, maxRateBps: 2_400, maxDefaultBps: 2_000
            });
    }

    function _attestation(uint256 commitment, address borrower, uint64 expiry)
        internal
        pure
        returns (CreditLine.Attestation memory)
    {
        return CreditLine.Attestation({commitment: commitment, borrower: borrower, expiry: expiry});
    }

    /// @dev r || s || v, as eth_account and `eth_signTypedData_v4` return it.
    function _sign(CreditLine line, uint256 key, CreditLine.Attestation memory a) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, line.attestationDigest(a));
        return abi.encodePacked(r, s, v);
    }

    function _instances(uint256 commitment, uint256 pdFelt) internal pure returns (uint256[] memory instances) {
        instances = new uint256[](2);
        instances[0] = commitment;
        instances[1] = pdFelt;
    }

    /// @dev A commitment-looking felt (< r) per seed.
    function _commitment(uint256 seed) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode("commitment", seed))) % Felt.R;
    }
}

/// @title CreditLine (the example consumer on private inputs): an attested commitment, a proven PD, bounded terms
contract CreditLineTest is Test, CreditFixture {
    MockVerifier internal mock;
    CreditLine internal line;
    address internal attester;
    address internal borrower;
    uint64 internal expiry;

    function setUp() public {
        mock = new MockVerifier(true);
        attester = vm.addr(ATTESTER_KEY);
        borrower = makeAddr("borrower");
        address[] memory attesters = new address[](1);
        attesters[0] = attester;
        line = new CreditLine(
            mock, IModelRegistry(address(0)), 0, OUTPUT_SCALE, _defaultTerms(), attesters, address(this)
        );
        vm.warp(1_700_000_000);
        expiry = uint64(block.timestamp + 1 days);
    }

    /// @dev The borrower applies with commitment `seed`, a proof of PD `pd` (scale 7), signed by the attester.
    function _apply(address who, uint256 seed, int256 pd) internal returns (uint256 limit, uint16 rateBps) {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(seed);
        CreditLine.Attestation memory a = _attestation(commitment, who, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.prank(who);
        return line.applyForCredit(PROOF, _instances(commitment, Felt.encode(pd)), a, signature, version);
    }

    // --- pricing ---------------------------------------------------------------------------------

    function test_Apply_PricesTheLineFromTheProvenPd() public {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        // PD 6/128 = 4.6875 % -> 468 bps (rounded down); limit 50 000 - 49 000 * 468 / 2 000
        // = 38 534 (11 466.0 off); rate 300 + 2 100 * 468 / 2 000 = 791 (491.4, rounded down)
        vm.expectEmit();
        emit CreditLine.CreditTermsSet(borrower, attester, commitment, 468, 38_534, 791);
        vm.prank(borrower);
        (uint256 limit, uint16 rateBps) = line.applyForCredit(PROOF, _instances(commitment, 6), a, signature, version);
        assertEq(limit, 38_534, "limit");
        assertEq(rateBps, 791, "rate");
        CreditLine.Line memory stored = line.lineOf(borrower);
        assertEq(stored.limit, 38_534, "stored limit");
        assertEq(stored.rateBps, 791, "stored rate");
        assertEq(stored.pdBps, 468, "stored pd");
        assertEq(stored.updatedAt, block.timestamp, "stored time");
        assertTrue(line.commitmentUsed(commitment), "commitment used");
        assertEq(mock.calls(), 1, "one verifier call");
    }

    function test_Apply_PdZeroGetsTheBestTermsAndAtMaxDefaultIsDeclined() public {
        (uint256 limit, uint16 rateBps) = _apply(borrower, 1, 0);
        assertEq(limit, 50_000, "max limit at PD 0");
        assertEq(rateBps, 300, "min rate at PD 0");
        // 20 % = 2 000 bps exactly: 0.2 * 128 = 25.6, so 26/128 = 2 031 bps (declined) and 25/128 = 1 953 (approved)
        (limit, rateBps) = _apply(borrower, 2, 25);
        assertEq(limit, 50_000 - uint256(49_000) * 1_953 / 2_000, "just below max default");
        assertEq(rateBps, 300 + uint256(2_100) * 1_953 / 2_000, "rate just below");
        vm.expectEmit();
        emit CreditLine.CreditTermsSet(borrower, attester, _commitment(3), 2_031, 0, 0);
        (limit, rateBps) = _apply(borrower, 3, 26);
        assertTrue(limit == 0 && rateBps == 0, "declined");
        CreditLine.Line memory stored = line.lineOf(borrower);
        assertTrue(
            stored.limit == 0 && stored.rateBps == 0 && stored.pdBps == 2_031,
            "the declined line replaced the earlier one"
        );
    }

    function test_Apply_PdExactlyAtMaxDefaultIsDeclined() public {
        // a cut-off on the output grid: 2 500 bps = 32/128 exactly
        line.setTerms(
            CreditLine.Terms({
                minLimit: 1_000, maxLimit: 50_000, minRateBps: 300, maxRateBps: 2_400, maxDefaultBps: 2_500
            })
        );
        (uint256 limit, uint16 rateBps) = _apply(borrower, 1, 32);
        assertTrue(limit == 0 && rateBps == 0, "declined at maxDefaultBps");
        (limit, rateBps) = _apply(borrower, 2, 31);
        assertTrue(limit >= 1_000 && rateBps <= 2_400 && rateBps >= 300, "approved just below");
    }

    function test_Apply_SaturatesPdOutsideZeroToOne() public {
        (uint256 limit, uint16 rateBps) = _apply(borrower, 1, -1_000);
        assertTrue(limit == 50_000 && rateBps == 300, "negative PD prices as 0");
        assertEq(line.lineOf(borrower).pdBps, 0, "pd 0");
        line.setTerms(
            CreditLine.Terms({minLimit: 0, maxLimit: 10, minRateBps: 0, maxRateBps: 10_000, maxDefaultBps: 10_000})
        );
        (limit, rateBps) = _apply(borrower, 2, 1e30);
        assertTrue(limit == 0 && rateBps == 0, "PD above 1 saturates to 10 000 bps: declined even at maxDefault 10 000");
        assertEq(line.lineOf(borrower).pdBps, 10_000, "pd 10 000");
    }

    function test_Apply_ReapplyingReplacesTheLine() public {
        _apply(borrower, 1, 2);
        uint256 firstLimit = line.lineOf(borrower).limit;
        vm.warp(block.timestamp + 1 hours);
        _apply(borrower, 2, 10);
        CreditLine.Line memory stored = line.lineOf(borrower);
        assertTrue(stored.limit < firstLimit, "higher PD, lower limit");
        assertEq(stored.updatedAt, block.timestamp, "repriced now");
        assertTrue(line.commitmentUsed(_commitment(1)) && line.commitmentUsed(_commitment(2)), "both used");
    }

    function test_Apply_ExpiryEqualToNowIsAccepted() public {
        expiry = uint64(block.timestamp);
        (uint256 limit,) = _apply(borrower, 1, 0);
        assertEq(limit, 50_000, "accepted at expiry");
    }

    // --- every rejection, by name ------------------------------------------------------------------

    function test_Apply_RefusesAnotherBorrowersAttestation() public {
        uint64 version = line.termsVersion();
        address thief = makeAddr("thief");
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.NotAttestedBorrower.selector, borrower, thief));
        vm.prank(thief);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
    }

    function test_Apply_RefusesAnExpiredAttestation() public {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.warp(uint256(expiry) + 1);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.AttestationExpired.selector, expiry, uint256(expiry) + 1));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
    }

    function test_Apply_RefusesMalformedSignatures() public {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ATTESTER_KEY, line.attestationDigest(a));
        bytes[] memory bad = new bytes[](5);
        bad[0] = "";
        bad[1] = abi.encodePacked(keccak256("garbage r"), keccak256("garbage s")); // 64 bytes (ERC-2098 not accepted)
        bad[2] = abi.encodePacked(keccak256("garbage r"), keccak256("garbage s"), uint8(0)); // 65 bytes, v = 0
        bad[3] = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27)); // high s
        bad[4] = abi.encodePacked(r, s, v, uint8(0)); // 66 bytes
        for (uint256 i = 0; i < bad.length; ++i) {
            vm.expectRevert(CreditLine.InvalidSignature.selector);
            vm.prank(borrower);
            line.applyForCredit(PROOF, _instances(commitment, 0), a, bad[i], version);
        }
    }

    function test_Apply_RefusesAnUntrustedSigner() public {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, STRANGER_KEY, a);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.UntrustedAttester.selector, vm.addr(STRANGER_KEY)));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
    }

    /// @dev The attester signed commitment A; the borrower swaps in B (features it would rather
    /// be scored on). The signature is well-formed but over another digest, so it recovers
    /// some unrelated account.
    function test_Apply_RefusesASignatureOverAnotherAttestation() public {
        uint64 version = line.termsVersion();
        CreditLine.Attestation memory signed = _attestation(_commitment(1), borrower, expiry);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ATTESTER_KEY, line.attestationDigest(signed));
        CreditLine.Attestation memory forged = _attestation(_commitment(2), borrower, expiry);
        address recovered = ecrecover(line.attestationDigest(forged), v, r, s);
        assertTrue(recovered != attester && recovered != address(0), "recovers someone else");
        vm.expectRevert(abi.encodeWithSelector(CreditLine.UntrustedAttester.selector, recovered));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(_commitment(2), 0), forged, abi.encodePacked(r, s, v), version);
        // the same with a later expiry than the attester granted
        forged = _attestation(_commitment(1), borrower, expiry + 365 days);
        recovered = ecrecover(line.attestationDigest(forged), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.UntrustedAttester.selector, recovered));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(_commitment(1), 0), forged, abi.encodePacked(r, s, v), version);
    }

    function test_Apply_RefusesAReplayedCommitmentWhateverTheProofBytes() public {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 20), a, signature, version);
        // a re-randomised proof (other bytes), a better PD, the same attestation
        vm.expectRevert(abi.encodeWithSelector(CreditLine.CommitmentAlreadyUsed.selector, commitment));
        vm.prank(borrower);
        line.applyForCredit(hex"beef", _instances(commitment, 0), a, signature, version);
        // nor with a fresh attestation of the same commitment
        a.expiry = expiry + 1 days;
        signature = _sign(line, ATTESTER_KEY, a);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.CommitmentAlreadyUsed.selector, commitment));
        vm.prank(borrower);
        line.applyForCredit(hex"beef", _instances(commitment, 0), a, signature, version);
        assertEq(mock.calls(), 1, "replays reach no verifier");
    }

    /// @dev A proof over other features, or the same features with another salt, carries another hash.
    function test_Apply_RefusesAProofOverAnotherCommitment() public {
        uint64 version = line.termsVersion();
        uint256 attested = _commitment(1);
        uint256 other = _commitment(2);
        CreditLine.Attestation memory a = _attestation(attested, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InputMismatch.selector, 0, attested, other));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(other, 0), a, signature, version);
    }

    function test_Apply_RefusesAPdOutsideTheDecodableRange() public {
        uint64 version = line.termsVersion();
        uint256[2] memory felts = [Felt.MAX_ABS, Felt.R - Felt.MAX_ABS];
        for (uint256 i = 0; i < 2; ++i) {
            uint256 commitment = _commitment(i);
            CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
            bytes memory signature = _sign(line, ATTESTER_KEY, a);
            vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.OutputOutOfRange.selector, felts[i]));
            vm.prank(borrower);
            line.applyForCredit(PROOF, _instances(commitment, felts[i]), a, signature, version);
        }
    }

    function test_Apply_RefusesInstancesNotInTheField() public {
        uint64 version = line.termsVersion();
        // an attested "commitment" >= r: x and x + r would verify alike
        uint256 commitment = Felt.R + 7;
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InstanceNotInField.selector, 0, commitment));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
        // a PD felt >= r
        commitment = _commitment(1);
        a = _attestation(commitment, borrower, expiry);
        signature = _sign(line, ATTESTER_KEY, a);
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.InstanceNotInField.selector, 1, Felt.R + 3));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, Felt.R + 3), a, signature, version);
    }

    function test_Apply_RefusesAnotherInstanceCount() public {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        uint256[] memory three = new uint256[](3);
        three[0] = commitment;
        vm.expectRevert(abi.encodeWithSelector(ZkmlConsumer.WrongInstanceCount.selector, 3, 2));
        vm.prank(borrower);
        line.applyForCredit(PROOF, three, a, signature, version);
    }

    function test_Apply_ARejectedProofUsesNothing() public {
        uint64 version = line.termsVersion();
        mock.setAccepts(false);
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.expectRevert(ZkmlConsumer.ProofRejected.selector);
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
        assertTrue(!line.commitmentUsed(commitment), "commitment still fresh");
        mock.setAccepts(true);
        vm.prank(borrower);
        (uint256 limit,) = line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
        assertEq(limit, 50_000, "the honest proof still prices");
    }

    // --- attesters, terms, pause, ownership ----------------------------------------------------------

    function test_SetAttester_RemovalTakesEffectOnTheNextApplication() public {
        uint64 version = line.termsVersion();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.expectEmit();
        emit CreditLine.AttesterSet(attester, false);
        line.setAttester(attester, false);
        assertTrue(!line.isAttester(attester), "distrusted");
        vm.expectRevert(abi.encodeWithSelector(CreditLine.UntrustedAttester.selector, attester));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
        // trusted again: the unused attestation counts again
        vm.expectEmit();
        emit CreditLine.AttesterSet(attester, true);
        line.setAttester(attester, true);
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
    }

    function test_SetAttester_AddsAnotherAttester() public {
        uint64 version = line.termsVersion();
        address other = vm.addr(STRANGER_KEY);
        line.setAttester(other, true);
        assertTrue(line.isAttester(other) && line.isAttester(attester), "both trusted");
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, STRANGER_KEY, a);
        vm.expectEmit();
        emit CreditLine.CreditTermsSet(borrower, other, commitment, 0, 50_000, 300);
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
    }

    function test_SetAttester_RefusesTheZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(CreditLine.InvalidAttester.selector, address(0)));
        line.setAttester(address(0), true);
    }

    function test_SetTerms_StoresAndEmits() public {
        CreditLine.Terms memory t =
            CreditLine.Terms({minLimit: 7, maxLimit: 7, minRateBps: 10_000, maxRateBps: 10_000, maxDefaultBps: 10_000});
        vm.expectEmit();
        emit CreditLine.TermsSet(2, t);
        line.setTerms(t);
        assertEq(line.termsVersion(), 2, "second version");
        CreditLine.Terms memory stored = line.terms();
        assertTrue(
            stored.minLimit == 7 && stored.maxLimit == 7 && stored.minRateBps == 10_000 && stored.maxRateBps == 10_000
                && stored.maxDefaultBps == 10_000,
            "stored (the widest valid bounds)"
        );
        (uint256 limit, uint16 rateBps) = line.quote(9_999);
        assertTrue(limit == 7 && rateBps == 10_000, "flat terms");
    }

    function test_SetTerms_RefusesEachBrokenBound() public {
        CreditLine.Terms[6] memory bad;
        for (uint256 i = 0; i < 6; ++i) {
            bad[i] = _defaultTerms();
        }
        bad[0].minLimit = bad[0].maxLimit + 1;
        bad[1].minLimit = 0;
        bad[1].maxLimit = 0;
        bad[2].minRateBps = bad[2].maxRateBps + 1;
        bad[3].maxRateBps = 10_001;
        bad[4].maxDefaultBps = 0;
        bad[5].maxDefaultBps = 10_001;
        address[] memory attesters = new address[](0);
        for (uint256 i = 0; i < 6; ++i) {
            vm.expectRevert(CreditLine.InvalidTerms.selector);
            line.setTerms(bad[i]);
            vm.expectRevert(CreditLine.InvalidTerms.selector);
            new CreditLine(mock, IModelRegistry(address(0)), 0, OUTPUT_SCALE, bad[i], attesters, address(this));
        }
    }

    function test_Pause_StopsApplications() public {
        uint64 version = line.termsVersion();
        line.pause();
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        line.pause();
        line.unpause();
        vm.expectRevert(Pausable.ExpectedPause.selector);
        line.unpause();
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, version);
    }

    function test_OwnerFunctions_RefuseEveryoneElse() public {
        address stranger = makeAddr("stranger");
        bytes memory unauthorized = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger);
        vm.startPrank(stranger);
        vm.expectRevert(unauthorized);
        line.setTerms(_defaultTerms());
        vm.expectRevert(unauthorized);
        line.setAttester(stranger, true);
        vm.expectRevert(unauthorized);
        line.pause();
        vm.expectRevert(unauthorized);
        line.unpause();
        vm.stopPrank();
        vm.expectRevert(OwnableNoRenounce.RenounceDisabled.selector);
        line.renounceOwnership();
    }

    function test_Constructor_SetsEverythingWithEvents() public {
        address[] memory attesters = new address[](2);
        attesters[0] = attester;
        attesters[1] = vm.addr(STRANGER_KEY);
        vm.expectEmit();
        emit CreditLine.TermsSet(1, _defaultTerms());
        vm.expectEmit();
        emit CreditLine.AttesterSet(attesters[0], true);
        vm.expectEmit();
        emit CreditLine.AttesterSet(attesters[1], true);
        CreditLine fresh =
            new CreditLine(mock, IModelRegistry(address(0)), 0, 12, _defaultTerms(), attesters, address(this));
        assertEq(fresh.outputScale(), 12, "scale");
        assertTrue(fresh.isAttester(attesters[0]) && fresh.isAttester(attesters[1]), "attesters");
        assertEq(fresh.terms().maxDefaultBps, 2_000, "terms");
        assertEq(fresh.termsVersion(), 1, "the constructor's terms are version 1");
        assertEq(fresh.owner(), address(this), "owner");
    }

    function test_Constructor_RefusesScalesAbove64() public {
        vm.expectRevert(CreditLine.InvalidConfig.selector);
        new CreditLine(mock, IModelRegistry(address(0)), 0, 65, _defaultTerms(), new address[](0), address(this));
    }

    function test_Constructor_RefusesAZeroAttester() public {
        address[] memory attesters = new address[](2);
        attesters[0] = attester;
        vm.expectRevert(abi.encodeWithSelector(CreditLine.InvalidAttester.selector, address(0)));
        new CreditLine(mock, IModelRegistry(address(0)), 0, OUTPUT_SCALE, _defaultTerms(), attesters, address(this));
    }

    // --- the terms version guard ---------------------------------------------------------------------

    /// @dev Every terms change, the constructor's included, bumps the version by one and emits
    /// it (indexed) with the terms; setting the same terms again still counts as a change.
    function test_TermsVersion_IncrementsOnEveryChangeAndIsEmitted() public {
        assertEq(line.termsVersion(), 1, "version 1 at deployment");
        CreditLine.Terms memory t = _defaultTerms();
        t.maxLimit = 60_000;
        vm.recordLogs();
        line.setTerms(t);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].topics.length, 2, "signature and the indexed version");
        assertEq(
            logs[0].topics[0], keccak256("TermsSet(uint64,(uint128,uint128,uint16,uint16,uint16))"), "event signature"
        );
        assertEq(uint256(logs[0].topics[1]), 2, "indexed version 2");
        assertEq(keccak256(logs[0].data), keccak256(abi.encode(t)), "terms in the data");
        assertEq(line.termsVersion(), 2, "version 2");
        vm.expectEmit();
        emit CreditLine.TermsSet(3, t);
        line.setTerms(t);
        assertEq(line.termsVersion(), 3, "the same terms again: version 3");
        // a refused change bumps nothing
        t.maxDefaultBps = 0;
        vm.expectRevert(CreditLine.InvalidTerms.selector);
        line.setTerms(t);
        assertEq(line.termsVersion(), 3, "still 3");
    }

    /// @dev The borrower reads the terms (version 1) and previews their line; the owner's
    /// `setTerms` is mined first. The application reverts by name before the proof is checked,
    /// the commitment stays unused, and re-applying with the new version prices on the new terms.
    function test_Apply_RefusesTermsChangedSinceTheBorrowerReadThem() public {
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        uint64 read = line.termsVersion();
        (uint256 previewed,) = line.quote(0);
        assertEq(previewed, 50_000, "the line the borrower saw");
        CreditLine.Terms memory worse = _defaultTerms();
        worse.maxLimit = 2_000;
        line.setTerms(worse);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.TermsChanged.selector, read, read + 1));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, read);
        assertTrue(!line.commitmentUsed(commitment), "commitment not consumed");
        assertEq(mock.calls(), 0, "no verifier call");
        assertEq(line.lineOf(borrower).updatedAt, 0, "no line");
        // a version from the future is refused alike
        vm.expectRevert(abi.encodeWithSelector(CreditLine.TermsChanged.selector, read + 2, read + 1));
        vm.prank(borrower);
        line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, read + 2);
        // the borrower re-reads the terms and re-applies with the same attestation
        uint64 current = line.termsVersion();
        assertEq(current, read + 1, "one change");
        vm.prank(borrower);
        (uint256 limit, uint16 rateBps) = line.applyForCredit(PROOF, _instances(commitment, 0), a, signature, current);
        assertTrue(limit == 2_000 && rateBps == 300, "priced on the terms now read");
        assertTrue(line.commitmentUsed(commitment), "used now");
    }

    /// @dev The version is checked first: a stale version reverts `TermsChanged` even for a
    /// caller who is not the attested borrower, with an expired attestation and a bad signature.
    function test_Apply_ChecksTheTermsVersionFirst() public {
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        vm.warp(uint256(expiry) + 1);
        vm.expectRevert(abi.encodeWithSelector(CreditLine.TermsChanged.selector, 0, 1));
        vm.prank(makeAddr("thief"));
        line.applyForCredit(PROOF, _instances(commitment, 0), a, "", 0);
    }

    // --- the EIP-712 encoding Python signs -------------------------------------------------------------

    /// @dev The digest rebuilt by hand from the type string and the domain
    /// {name "CreditLine", version "1", chainId, verifyingContract}.
    function testFuzz_AttestationDigest_IsEip712OverTheTypeString(uint256 commitment, address who, uint64 until)
        public
        view
    {
        bytes32 typeHash = keccak256("Attestation(uint256 commitment,address borrower,uint64 expiry)");
        assertEq(line.ATTESTATION_TYPEHASH(), typeHash, "type hash");
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("CreditLine"),
                keccak256("1"),
                block.chainid,
                address(line)
            )
        );
        bytes32 structHash = keccak256(abi.encode(typeHash, commitment, who, uint256(until)));
        bytes32 expected = keccak256(abi.encodePacked("\x19\x01", domain, structHash));
        assertEq(line.attestationDigest(_attestation(commitment, who, until)), expected, "digest");
    }

    /// @dev Known answer from eth_account 0.14 (`encode_typed_data(full_message=...)` with the
    /// EIP712Domain fields name, version, chainId, verifyingContract; `Account.sign_message`),
    /// for chain 31337, verifyingContract 0x00000000000000000000000000000000C0FFEE00, key 0xA77E57:
    /// the contract's code run at that address gives the digest Python signs, and forge's
    /// signer the very signature Python produces (both RFC 6979).
    function test_AttestationDigest_MatchesEthAccount() public {
        address at = 0x00000000000000000000000000000000C0FfeE00;
        vm.etch(at, address(line).code);
        assertEq(block.chainid, 31337, "forge's default chain");
        CreditLine.Attestation memory a = _attestation(
            0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef,
            0x000000000000000000000000000000000000b0b0,
            1_700_000_000
        );
        bytes32 digest = CreditLine(at).attestationDigest(a);
        assertEq(digest, 0x4619a473c4e523109f0da65ffd3b849f8fea4d90dbf98e3fcfb3f1cbd2b5945f, "digest as eth_account");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ATTESTER_KEY, digest);
        assertEq(
            keccak256(abi.encodePacked(r, s, v)),
            keccak256(
                hex"59d180b60a21596e8f970ae5a7766a9b5e28c6f75739736ab10bc1c2640c23d33f79f55618843c81ebda7321399c20b57bc045896393ad9ca9632627534d47851c"
            ),
            "signature as eth_account"
        );
        assertEq(vm.addr(ATTESTER_KEY), 0x501D9b198010BC786D8b0DAc53ac700c8ACdc02d, "signer as eth_account");
    }

    // --- pricing over the whole output domain -------------------------------------------------------

    /// @dev The PD in bps as the contract must compute it: saturated to [0, 1], rounded down.
    function _expectedPdBps(int256 pd, uint8 scale) internal pure returns (uint256) {
        if (pd <= 0) return 0;
        uint256 one = uint256(1) << scale;
        return (uint256(pd) >= one ? one : uint256(pd)) * 10_000 / one;
    }

    function _checkWithin(CreditLine.Terms memory t, uint256 pdBps, uint256 limit, uint16 rateBps) internal pure {
        if (pdBps >= t.maxDefaultBps) {
            assertTrue(limit == 0 && rateBps == 0, "declined at or above maxDefaultBps");
        } else {
            assertTrue(limit >= t.minLimit && limit <= t.maxLimit && limit > 0, "limit within bounds");
            assertTrue(rateBps >= t.minRateBps && rateBps <= t.maxRateBps, "rate within bounds");
        }
    }

    /// @dev Any terms, any two decodable PD felts p <= q (negative, in [0, 1], above 1): both
    /// price within bounds; the higher PD never gets a higher limit nor, while approved, a
    /// lower rate; at or above maxDefaultBps both are 0.
    function testFuzz_Apply_TermsAreBoundedAndMonotoneInThePd(int256 p, int256 q, CreditLine.Terms memory t) public {
        t.maxLimit = uint128(bound(t.maxLimit, 1, type(uint128).max));
        t.minLimit = uint128(bound(t.minLimit, 0, t.maxLimit));
        t.maxRateBps = uint16(bound(t.maxRateBps, 0, 10_000));
        t.minRateBps = uint16(bound(t.minRateBps, 0, t.maxRateBps));
        t.maxDefaultBps = uint16(bound(t.maxDefaultBps, 1, 10_000));
        line.setTerms(t);
        int256 limitAbs = int256(Felt.MAX_ABS) - 1;
        p = boundInt(p, -limitAbs, limitAbs);
        q = boundInt(q, -limitAbs, limitAbs);
        if (p > q) (p, q) = (q, p);
        (uint256 limitP, uint16 rateP) = _apply(borrower, 1, p);
        (uint256 limitQ, uint16 rateQ) = _apply(makeAddr("other borrower"), 2, q);
        uint256 bpsP = _expectedPdBps(p, OUTPUT_SCALE);
        uint256 bpsQ = _expectedPdBps(q, OUTPUT_SCALE);
        assertEq(line.lineOf(borrower).pdBps, bpsP, "pd bps (saturated, rounded down)");
        _checkWithin(t, bpsP, limitP, rateP);
        _checkWithin(t, bpsQ, limitQ, rateQ);
        assertGe(limitP, limitQ, "higher PD, no higher limit");
        if (bpsQ < t.maxDefaultBps) assertLe(rateP, rateQ, "higher PD, no lower rate");
    }

    /// @dev Every output scale the constructor accepts maps every decodable PD into [0, 10 000] bps.
    function testFuzz_Apply_AnyScaleSaturatesThePd(uint8 scale, int256 pd) public {
        scale = uint8(bound(scale, 0, 64));
        pd = boundInt(pd, -int256(Felt.MAX_ABS) + 1, int256(Felt.MAX_ABS) - 1);
        address[] memory attesters = new address[](1);
        attesters[0] = attester;
        line = new CreditLine(mock, IModelRegistry(address(0)), 0, scale, _defaultTerms(), attesters, address(this));
        (uint256 limit, uint16 rateBps) = _apply(borrower, 1, pd);
        uint256 bps = _expectedPdBps(pd, scale);
        assertEq(line.lineOf(borrower).pdBps, bps, "pd bps");
        _checkWithin(_defaultTerms(), bps, limit, rateBps);
    }

    // --- gas ------------------------------------------------------------------------------------------

    /// @dev One application's own frame with the mock verifier (so: signature recovery, the
    /// template's checks, the mock's call, two fresh slots and the event), a new borrower and
    /// a new commitment. `-vv` prints it.
    function test_Gas_Apply() public {
        // the version a borrower read off-chain: reading it here would warm the slot it shares
        // with `paused()` and hide that cold load from the figure
        uint64 version = 1;
        uint256 commitment = _commitment(1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, expiry);
        bytes memory signature = _sign(line, ATTESTER_KEY, a);
        uint256[] memory instances = _instances(commitment, 6);
        vm.prank(borrower);
        line.applyForCredit(PROOF, instances, a, signature, version);
        uint256 used = vm.lastCallGas().gasTotalUsed;
        CreditConsole.log("applyForCredit gas (mock verifier)", used);
        assertLe(used, 120_000, "apply stays cheap");
        assertEq(line.termsVersion(), version, "priced on the constructor's terms");
    }
}

/// @title What forge may do to a credit line in an invariant run
/// @notice TEST ONLY: three borrowers apply with fresh or replayed commitments, signed by a
/// trusted, a distrusted or an unknown key, with PDs across the whole decodable range; the
/// owner changes terms, trusts and distrusts, pauses and unpauses. Ghost records keep what
/// each successful call established.
contract CreditLineHandler is CreditFixture {
    CreditLine public immutable line;
    MockVerifier public immutable mock;
    address[3] public borrowers = [address(0xB0B1), address(0xB0B2), address(0xB0B3)];
    uint256[3] internal keys = [ATTESTER_KEY, STRANGER_KEY, uint256(0xD1CE)];

    /// @notice Applications that priced a line.
    uint256 public successes;
    /// @notice Applications that priced a line although they should have been refused.
    uint256 public wrongSuccesses;
    /// @notice Commitments that priced a line, in order.
    uint256[] public used;
    /// @notice The terms in force when each borrower's line was last priced.
    mapping(address borrower => CreditLine.Terms) internal _termsAt;

    constructor() {
        mock = new MockVerifier(true);
        address[] memory attesters = new address[](1);
        attesters[0] = vm.addr(ATTESTER_KEY);
        line = new CreditLine(
            mock, IModelRegistry(address(0)), 0, OUTPUT_SCALE, _defaultTerms(), attesters, address(this)
        );
    }

    /// @notice The count of `used`.
    function usedCount() external view returns (uint256) {
        return used.length;
    }

    /// @notice The terms a borrower's current line was priced with.
    function termsAt(address borrower) external view returns (CreditLine.Terms memory) {
        return _termsAt[borrower];
    }

    /// @notice A borrower applies.
    /// @param who Fuzz input choosing the borrower.
    /// @param seed Fuzz input choosing the commitment (few values: replays happen).
    /// @param key Fuzz input choosing the signer.
    /// @param pd The PD, bounded to the decodable range.
    function apply_(uint256 who, uint256 seed, uint256 key, int256 pd) external {
        uint64 version = line.termsVersion();
        address borrower = borrowers[who % 3];
        uint256 commitment = _commitment(seed % 16);
        uint256 signer = keys[key % 3];
        pd = boundInt(pd, -int256(Felt.MAX_ABS) + 1, int256(Felt.MAX_ABS) - 1);
        CreditLine.Attestation memory a = _attestation(commitment, borrower, uint64(block.timestamp));
        bytes memory signature = _sign(line, signer, a);
        bool shouldFail = line.paused() || line.commitmentUsed(commitment) || !line.isAttester(vm.addr(signer));
        CreditLine.Terms memory current = line.terms();
        vm.prank(borrower);
        try line.applyForCredit(PROOF, _instances(commitment, Felt.encode(pd)), a, signature, version) {
            if (shouldFail) ++wrongSuccesses;
            ++successes;
            used.push(commitment);
            _termsAt[borrower] = current;
        } catch {}
    }

    /// @notice The owner sets new (valid) terms.
    function setTerms(CreditLine.Terms memory t) external {
        t.maxLimit = uint128(bound(t.maxLimit, 1, type(uint128).max));
        t.minLimit = uint128(bound(t.minLimit, 0, t.maxLimit));
        t.maxRateBps = uint16(bound(t.maxRateBps, 0, 10_000));
        t.minRateBps = uint16(bound(t.minRateBps, 0, t.maxRateBps));
        t.maxDefaultBps = uint16(bound(t.maxDefaultBps, 1, 10_000));
        line.setTerms(t);
    }

    /// @notice The owner trusts or distrusts one of the keys.
    function setAttester(uint256 key, bool trusted) external {
        line.setAttester(vm.addr(keys[key % 3]), trusted);
    }

    /// @notice The owner pauses or unpauses.
    function togglePause() external {
        if (line.paused()) line.unpause();
        else line.pause();
    }

    /// @notice Time passes.
    function warp(uint256 by) external {
        vm.warp(block.timestamp + bound(by, 0, 30 days));
    }
}

/// @title CreditLine invariants: lines within the terms they were priced with, one line per commitment
contract CreditLineInvariantsTest is Test {
    CreditLineHandler internal handler;

    function setUp() public {
        handler = new CreditLineHandler();
        _targetContract(address(handler));
    }

    /// @dev Each borrower's line is declined (0, 0, PD at or above the cut-off) or within the
    /// bounds of the terms in force when it was priced; the PD is never above 10 000 bps.
    function invariant_LinesStayWithinTheirTerms() public view {
        CreditLine line = handler.line();
        for (uint256 i = 0; i < 3; ++i) {
            address borrower = handler.borrowers(i);
            CreditLine.Line memory l = line.lineOf(borrower);
            if (l.updatedAt == 0) continue;
            CreditLine.Terms memory t = handler.termsAt(borrower);
            assertLe(l.pdBps, 10_000, "pd <= 1");
            if (l.pdBps >= t.maxDefaultBps) {
                assertTrue(l.limit == 0 && l.rateBps == 0, "declined");
            } else {
                assertTrue(l.limit >= t.minLimit && l.limit <= t.maxLimit && l.limit > 0, "limit within");
                assertTrue(l.rateBps >= t.minRateBps && l.rateBps <= t.maxRateBps, "rate within");
            }
        }
    }

    /// @dev No paused, replayed or untrusted application priced a line; each success used a
    /// commitment of its own and one verifier call.
    function invariant_OneLinePerCommitmentOnlyFromTrustedAttesters() public view {
        assertEq(handler.wrongSuccesses(), 0, "no refused application succeeded");
        uint256 n = handler.usedCount();
        assertEq(handler.successes(), n, "one commitment per success");
        assertEq(handler.mock().calls(), n, "one verifier call per success");
        for (uint256 i = 0; i < n; ++i) {
            assertTrue(handler.line().commitmentUsed(handler.used(i)), "marked used");
            for (uint256 j = 0; j < i; ++j) {
                assertTrue(handler.used(i) != handler.used(j), "never twice");
            }
        }
    }
}
