namespace Usine.Simulator;

/// <summary>What a simulated MQTT message reports.</summary>
public enum MessageKind
{
    /// <summary>One tightening of one spindle on one vehicle: topic <c>.../screwing</c>.</summary>
    Screwing,

    /// <summary>A machine changing state: topic <c>.../state</c>.</summary>
    MachineState,

    /// <summary>A sampled process value: topic <c>.../process</c>.</summary>
    ProcessValue,
}

/// <summary>The known ways the simulator breaks a message on purpose, so that dead letters can be checked.</summary>
public enum BadKind
{
    /// <summary>Cannot be decoded: JSON cut in the middle, or a CSV row missing a cell.</summary>
    Malformed,

    /// <summary>A required field is left out (the VIN, the machine, the tag, the meter).</summary>
    MissingField,

    /// <summary>A number outside the model's range (torque 250 Nm, cycles -1, negative energy).</summary>
    OutOfRange,

    /// <summary>Text where a number is expected (torque "high").</summary>
    WrongType,

    /// <summary>A value outside the model's enum (status "MAYBE").</summary>
    UnknownEnum,

    /// <summary>A VIN that breaks the pattern: a forbidden letter (I, O, Q) or the wrong length.</summary>
    BadVin,
}

/// <summary>One message of the simulator, as it is (or would be) published.</summary>
/// <param name="Topic">MQTT topic, <c>{prefix}/{plant}/{shop}/{line}/{station}/{screwing|state|process}</c>.</param>
/// <param name="Payload">UTF-8 JSON, or broken JSON when <paramref name="Bad"/> is <see cref="BadKind.Malformed"/>.</param>
/// <param name="Bad">How the message was broken on purpose; null for a good message.</param>
/// <param name="Time">The event time the message carries.</param>
public sealed record SimulatedMessage(string Topic, byte[] Payload, MessageKind Kind, BadKind? Bad, DateTime Time);

/// <summary>One CSV file of meter readings (<c>plant,meter,timestamp,energy_wh,voltage,current</c>).</summary>
/// <param name="FileName">The name the file gets in the drop folder, ending in <c>.csv</c>.</param>
/// <param name="Content">UTF-8 text: the header line, then one line per reading.</param>
/// <param name="RowBad">For each data row, in order, how it was broken on purpose; null for a good row.</param>
public sealed record EnergyFile(string FileName, byte[] Content, IReadOnlyList<BadKind?> RowBad, DateTime Time)
{
    /// <summary>The header line of every energy file.</summary>
    public const string Header = "plant,meter,timestamp,energy_wh,voltage,current";
}
