using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Client;

/// <summary>The binary encoding ids of the services and structures the client uses (OPC 10000-6 Annex A, NodeIds.csv).</summary>
internal static class TypeIds
{
    public const uint GetEndpointsRequest = 428;
    public const uint GetEndpointsResponse = 431;
    public const uint CreateSessionRequest = 461;
    public const uint CreateSessionResponse = 464;
    public const uint ActivateSessionRequest = 467;
    public const uint ActivateSessionResponse = 470;
    public const uint CloseSessionRequest = 473;
    public const uint BrowseRequest = 527;
    public const uint BrowseNextRequest = 533;
    public const uint TranslateBrowsePathsRequest = 554;
    public const uint ReadRequest = 631;
    public const uint CreateMonitoredItemsRequest = 751;
    public const uint CreateSubscriptionRequest = 787;
    public const uint DeleteSubscriptionsRequest = 847;
    public const uint PublishRequest = 826;
    public const uint PublishResponse = 829;
    public const uint RepublishRequest = 832;
    public const uint TransferSubscriptionsRequest = 841;
    public const uint AnonymousIdentityToken = 321;
    public const uint UserNameIdentityToken = 324;
    public const uint DataChangeFilter = 724;
    public const uint DataChangeNotification = 811;
    public const uint StatusChangeNotification = 820;
}

/// <summary>Well-known nodes of namespace 0 the client names.</summary>
public static class WellKnownNodes
{
    public static readonly NodeId RootFolder = new(0, 84);
    public static readonly NodeId ObjectsFolder = new(0, 85);
    public static readonly NodeId TypesFolder = new(0, 86);
    public static readonly NodeId ViewsFolder = new(0, 87);
    public static readonly NodeId HierarchicalReferences = new(0, 33);
    public static readonly NodeId MaxNodesPerRead = new(0, 11705);
    public static readonly NodeId MaxNodesPerBrowse = new(0, 11710);
    public static readonly NodeId MaxMonitoredItemsPerCall = new(0, 11714);
}

/// <summary>What kind of user identity a token policy takes (OPC 10000-4 §7.42).</summary>
public enum UserTokenType
{
    Anonymous = 0,
    UserName = 1,
    Certificate = 2,
    IssuedToken = 3,
}

/// <summary>A kind of user identity an endpoint accepts, and the policy its secret is encrypted with.</summary>
public sealed record UserTokenPolicy(string? PolicyId, UserTokenType TokenType, string? SecurityPolicyUri);

/// <summary>An endpoint of a server as GetEndpoints describes it (OPC 10000-4 §7.14).</summary>
public sealed record EndpointDescription(
    string? EndpointUrl,
    string? ServerApplicationUri,
    byte[]? ServerCertificate,
    MessageSecurityMode SecurityMode,
    string? SecurityPolicyUri,
    IReadOnlyList<UserTokenPolicy> UserIdentityTokens,
    string? TransportProfileUri,
    byte SecurityLevel)
{
    internal static EndpointDescription Read(ref BinaryDecoder d)
    {
        var url = d.ReadString();
        var applicationUri = d.ReadString();
        d.ReadString(); // product URI
        d.ReadLocalizedText(); // application name
        d.ReadInt32(); // application type
        d.ReadString(); // gateway server URI
        d.ReadString(); // discovery profile URI
        var urls = d.ReadLength();
        for (var i = 0; i < urls; i++)
        {
            d.ReadString();
        }

        var certificate = d.ReadByteString();
        var mode = (MessageSecurityMode)d.ReadInt32();
        var policy = d.ReadString();
        var count = d.ReadLength();
        var tokens = new UserTokenPolicy[count];
        for (var i = 0; i < count; i++)
        {
            var id = d.ReadString();
            var type = (UserTokenType)d.ReadInt32();
            d.ReadString(); // issued token type
            d.ReadString(); // issuer endpoint URL
            tokens[i] = new UserTokenPolicy(id, type, d.ReadString());
        }

        var transport = d.ReadString();
        var level = d.ReadByte();
        return new EndpointDescription(url, applicationUri, certificate, mode, policy, tokens, transport, level);
    }
}

/// <summary>The kinds of node (OPC 10000-3 §5.2.3), as a bit each.</summary>
[Flags]
public enum NodeClass
{
    Unspecified = 0,
    Object = 1,
    Variable = 2,
    Method = 4,
    ObjectType = 8,
    VariableType = 16,
    ReferenceType = 32,
    DataType = 64,
    View = 128,
}

/// <summary>A reference found by Browse: the node it leads to, with its browse name and class.</summary>
public sealed record ReferenceDescription(NodeId ReferenceTypeId, bool IsForward, ExpandedNodeId NodeId, QualifiedName BrowseName, LocalizedText DisplayName, NodeClass NodeClass)
{
    internal static ReferenceDescription Read(ref BinaryDecoder d)
    {
        var referenceType = d.ReadNodeId();
        var forward = d.ReadBoolean();
        var node = d.ReadExpandedNodeId();
        var name = d.ReadQualifiedName();
        var display = d.ReadLocalizedText();
        var nodeClass = (NodeClass)d.ReadInt32();
        d.ReadExpandedNodeId(); // type definition
        return new ReferenceDescription(referenceType, forward, node, name, display, nodeClass);
    }
}

/// <summary>How a monitored item reports changes (OPC 10000-4 §7.22.2): by status, value or timestamp, and the deadband.</summary>
public enum DataChangeTrigger
{
    Status = 0,
    StatusValue = 1,
    StatusValueTimestamp = 2,
}

/// <summary>The deadband of a data-change filter (OPC 10000-4 §7.22.2).</summary>
public enum DeadbandType
{
    None = 0,
    Absolute = 1,
    Percent = 2,
}

/// <summary>A data-change filter: what counts as a change, and how far a value must move to be reported.</summary>
public sealed record DataChangeFilter(DataChangeTrigger Trigger = DataChangeTrigger.StatusValue, DeadbandType DeadbandType = DeadbandType.None, double DeadbandValue = 0);

/// <summary>A monitored item to create: the node, the client's handle for it, and its sampling.</summary>
public sealed record MonitoredItemRequest(NodeId NodeId, uint ClientHandle, double SamplingIntervalMs, uint QueueSize, DataChangeFilter? Filter = null);

/// <summary>What the server made of a monitored item: its id, or the status it refused it with.</summary>
public readonly record struct MonitoredItemResult(StatusCode Status, uint MonitoredItemId, double RevisedSamplingIntervalMs, uint RevisedQueueSize);

/// <summary>One value of a data change: the monitored item's client handle and the value with its status and timestamps.</summary>
public readonly record struct MonitoredValue(uint ClientHandle, Variant Value, StatusCode Status, DateTime? SourceTimestamp, DateTime? ServerTimestamp);
