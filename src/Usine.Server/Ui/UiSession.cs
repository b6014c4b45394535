using Microsoft.AspNetCore.Components.Authorization;
using Usine.Security;

namespace Usine.Server.Ui;

/// <summary>
/// The person using a UI circuit: who they are for the audit log, whether they may act on dead letters, and the
/// plants they may read, which every page passes to the store like the API does.
/// </summary>
internal sealed class UiSession(AuthenticationStateProvider authentication)
{
    /// <summary>Who acts from the web UI when Usine serves loopback without authentication.</summary>
    public const string LocalActor = "web";

    private Caller? _caller;

    public Caller Caller => _caller ??= Load();

    public IReadOnlySet<string>? Plants => Caller.Plants;

    /// <summary>The name audit entries record for this person's actions.</summary>
    public string Actor => Caller.Name == LocalHandler.Name ? LocalActor : Caller.Name + " (web)";

    /// <summary>
    /// Whether the key or token this person signed in with has expired: a circuit outlives the request that opened
    /// it, so the layout asks at each navigation and sends the person back through the sign-in.
    /// </summary>
    public bool Expired(DateTimeOffset now) => Caller.Expires is { } expires && expires <= now;

    /// <summary>Whether this person may replay, edit and discard dead letters.</summary>
    public bool CanOperate => Caller.Role >= Role.Operator;

    /// <summary>Whether this person signed in (and may sign out); false on a loopback server without authentication.</summary>
    public bool SignedIn => Caller.Name != LocalHandler.Name;

    /// <summary>Whether the data of <paramref name="source"/> is in this person's plants (a source without a fixed plant needs every plant).</summary>
    public bool MayRead(SourceDefinition source) => PlantScopes.MayRead(Plants, source);

    /// <summary>The sources whose dead letters and records this person may see; null for every source.</summary>
    public IReadOnlySet<string>? ReadableSources(UsineDefinitions definitions) => PlantScopes.ReadableSources(Plants, definitions);

    public bool MayRead(string plant) => Caller.MayRead(plant);

    /// <summary>Keeps a dead-letter filter to this person's plants.</summary>
    public DeadLetterFilter Scoped(DeadLetterFilter filter, UsineDefinitions definitions) => PlantScopes.Scoped(Plants, definitions, filter);

    /// <summary>Whether this person may see dead letter <paramref name="id"/>: its plant, or its source's when its plant is not known.</summary>
    public bool MayReadDeadLetter(long id, IDeadLetterStore deadLetters, UsineDefinitions definitions) => PlantScopes.MayReadDeadLetter(Plants, deadLetters, definitions, id);

    private Caller Load()
    {
        // On the server the state is set when the circuit starts, from the request that opened it: the task is complete.
        var state = authentication.GetAuthenticationStateAsync();
        var user = state.IsCompletedSuccessfully ? state.Result.User : null;

        // No identity reads nothing: the authorization of the circuit's endpoints should make this unreachable.
        return Caller.Of(user) ?? new Caller("anonymous", Role.Viewer, new HashSet<string>());
    }
}
