using System.Collections.Frozen;
using System.Globalization;

namespace Usine.Connectors.OpcUa.Encoding;

/// <summary>How good a value or the outcome of an operation is: the two top bits of a <see cref="StatusCode"/>.</summary>
public enum StatusSeverity
{
    Good,
    Uncertain,
    Bad,
}

/// <summary>
/// The result of an operation or the quality of a value (OPC 10000-4 §7.39): the top 16 bits name the code, its
/// two highest bits its severity; the low bits carry flags (overflow, limits) that do not change its name.
/// </summary>
public readonly record struct StatusCode(uint Code)
{
    public static readonly StatusCode Good = new(0);

    public StatusSeverity Severity => (Code >> 30) switch
    {
        0 => StatusSeverity.Good,
        1 => StatusSeverity.Uncertain,
        _ => StatusSeverity.Bad,
    };

    public bool IsGood => Severity == StatusSeverity.Good;

    public bool IsBad => Severity == StatusSeverity.Bad;

    /// <summary>The code's symbolic name (<c>BadNodeIdUnknown</c>), or its hexadecimal value for a code this client does not name.</summary>
    public string Name => Names.TryGetValue(Code & 0xFFFF0000, out var name) ? name : string.Create(CultureInfo.InvariantCulture, $"0x{Code & 0xFFFF0000:X8}");

    public override string ToString() => Name;

    // The codes a client meets in practice (OPC 10000-4 §7.39 and the StatusCode table of OPC 10000-6 Annex A);
    // any other is shown by its number, which the specification's table resolves.
    private static readonly FrozenDictionary<uint, string> Names = new Dictionary<uint, string>
    {
        [0x00000000] = "Good",
        [0x002D0000] = "GoodSubscriptionTransferred",
        [0x002E0000] = "GoodCompletesAsynchronously",
        [0x002F0000] = "GoodOverload",
        [0x00300000] = "GoodClamped",
        [0x00A20000] = "GoodLocalOverride",
        [0x00A70000] = "GoodNoData",
        [0x00A80000] = "GoodMoreData",
        [0x00960000] = "GoodEntryInserted",
        [0x00D90000] = "GoodCommunicationEvent",
        [0x00DC0000] = "GoodDataIgnored",
        [0x40000000] = "Uncertain",
        [0x408F0000] = "UncertainReferenceOutOfServer",
        [0x40900000] = "UncertainNoCommunicationLastUsableValue",
        [0x40910000] = "UncertainLastUsableValue",
        [0x40920000] = "UncertainSubstituteValue",
        [0x40930000] = "UncertainInitialValue",
        [0x40940000] = "UncertainSensorNotAccurate",
        [0x40950000] = "UncertainEngineeringUnitsExceeded",
        [0x40960000] = "UncertainSubNormal",
        [0x80000000] = "Bad",
        [0x80010000] = "BadUnexpectedError",
        [0x80020000] = "BadInternalError",
        [0x80030000] = "BadOutOfMemory",
        [0x80040000] = "BadResourceUnavailable",
        [0x80050000] = "BadCommunicationError",
        [0x80060000] = "BadEncodingError",
        [0x80070000] = "BadDecodingError",
        [0x80080000] = "BadEncodingLimitsExceeded",
        [0x80090000] = "BadRequestTooLarge",
        [0x800A0000] = "BadResponseTooLarge",
        [0x800B0000] = "BadUnknownResponse",
        [0x800C0000] = "BadTimeout",
        [0x800D0000] = "BadServiceUnsupported",
        [0x800E0000] = "BadShutdown",
        [0x800F0000] = "BadServerNotConnected",
        [0x80100000] = "BadServerHalted",
        [0x80110000] = "BadNothingToDo",
        [0x80120000] = "BadTooManyOperations",
        [0x80130000] = "BadCertificateInvalid",
        [0x80140000] = "BadSecurityChecksFailed",
        [0x80150000] = "BadCertificateTimeInvalid",
        [0x80170000] = "BadCertificateHostNameInvalid",
        [0x80180000] = "BadCertificateUriInvalid",
        [0x80190000] = "BadCertificateUseNotAllowed",
        [0x801A0000] = "BadCertificateIssuerUseNotAllowed",
        [0x801B0000] = "BadCertificateUntrusted",
        [0x801C0000] = "BadCertificateRevocationUnknown",
        [0x801E0000] = "BadCertificateRevoked",
        [0x801F0000] = "BadUserAccessDenied",
        [0x80200000] = "BadIdentityTokenInvalid",
        [0x80210000] = "BadIdentityTokenRejected",
        [0x80220000] = "BadSecureChannelIdInvalid",
        [0x80230000] = "BadInvalidTimestamp",
        [0x80240000] = "BadNonceInvalid",
        [0x80250000] = "BadSessionIdInvalid",
        [0x80260000] = "BadSessionClosed",
        [0x80270000] = "BadSessionNotActivated",
        [0x80280000] = "BadSubscriptionIdInvalid",
        [0x802A0000] = "BadRequestHeaderInvalid",
        [0x802B0000] = "BadTimestampsToReturnInvalid",
        [0x802C0000] = "BadRequestCancelledByClient",
        [0x80310000] = "BadNoCommunication",
        [0x80320000] = "BadWaitingForInitialData",
        [0x80330000] = "BadNodeIdInvalid",
        [0x80340000] = "BadNodeIdUnknown",
        [0x80350000] = "BadAttributeIdInvalid",
        [0x80360000] = "BadIndexRangeInvalid",
        [0x80370000] = "BadIndexRangeNoData",
        [0x80380000] = "BadDataEncodingInvalid",
        [0x80390000] = "BadDataEncodingUnsupported",
        [0x803A0000] = "BadNotReadable",
        [0x803B0000] = "BadNotWritable",
        [0x803C0000] = "BadOutOfRange",
        [0x803D0000] = "BadNotSupported",
        [0x803E0000] = "BadNotFound",
        [0x803F0000] = "BadObjectDeleted",
        [0x80400000] = "BadNotImplemented",
        [0x80410000] = "BadMonitoringModeInvalid",
        [0x80420000] = "BadMonitoredItemIdInvalid",
        [0x80430000] = "BadMonitoredItemFilterInvalid",
        [0x80440000] = "BadMonitoredItemFilterUnsupported",
        [0x80450000] = "BadFilterNotAllowed",
        [0x80480000] = "BadDeadbandFilterInvalid",
        [0x804A0000] = "BadContinuationPointInvalid",
        [0x804B0000] = "BadNoContinuationPoints",
        [0x804C0000] = "BadReferenceTypeIdInvalid",
        [0x804D0000] = "BadBrowseDirectionInvalid",
        [0x804E0000] = "BadNodeNotInView",
        [0x80530000] = "BadServerUriInvalid",
        [0x80540000] = "BadServerNameMissing",
        [0x80550000] = "BadDiscoveryUrlMissing",
        [0x80570000] = "BadRequestTypeInvalid",
        [0x80580000] = "BadSecurityModeRejected",
        [0x80590000] = "BadSecurityPolicyRejected",
        [0x805A0000] = "BadTooManySessions",
        [0x805B0000] = "BadUserSignatureInvalid",
        [0x805C0000] = "BadApplicationSignatureInvalid",
        [0x805D0000] = "BadNoValidCertificates",
        [0x805F0000] = "BadRequestCancelledByRequest",
        [0x806F0000] = "BadNoMatch",
        [0x80740000] = "BadTypeMismatch",
        [0x80760000] = "BadArgumentsMissing",
        [0x80770000] = "BadTooManySubscriptions",
        [0x80780000] = "BadTooManyPublishRequests",
        [0x80790000] = "BadNoSubscription",
        [0x807A0000] = "BadSequenceNumberUnknown",
        [0x807B0000] = "BadMessageNotAvailable",
        [0x807C0000] = "BadInsufficientClientProfile",
        [0x807D0000] = "BadStateNotActive",
        [0x807E0000] = "BadTcpServerTooBusy",
        [0x807F0000] = "BadTcpMessageTypeInvalid",
        [0x80800000] = "BadTcpSecureChannelUnknown",
        [0x80810000] = "BadTcpMessageTooLarge",
        [0x80820000] = "BadTcpNotEnoughResources",
        [0x80830000] = "BadTcpInternalError",
        [0x80840000] = "BadTcpEndpointUrlInvalid",
        [0x80850000] = "BadRequestInterrupted",
        [0x80860000] = "BadRequestTimeout",
        [0x80870000] = "BadSecureChannelClosed",
        [0x80880000] = "BadSecureChannelTokenUnknown",
        [0x80890000] = "BadSequenceNumberInvalid",
        [0x808A0000] = "BadConfigurationError",
        [0x808B0000] = "BadNotConnected",
        [0x808C0000] = "BadDeviceFailure",
        [0x808D0000] = "BadSensorFailure",
        [0x808E0000] = "BadOutOfService",
        [0x80970000] = "BadTooManyMonitoredItems",
        [0x80AB0000] = "BadInvalidArgument",
        [0x80AC0000] = "BadConnectionRejected",
        [0x80AD0000] = "BadDisconnect",
        [0x80AE0000] = "BadConnectionClosed",
        [0x80AF0000] = "BadInvalidState",
        [0x80B00000] = "BadEndOfStream",
        [0x80B40000] = "BadMaxConnectionsReached",
        [0x80B80000] = "BadProtocolVersionUnsupported",
        [0x80BE0000] = "BadRequestNotAllowed",
        [0x80C10000] = "BadDataUnavailable",
        [0x80E50000] = "BadTooManyArguments",
    }.ToFrozenDictionary();
}
