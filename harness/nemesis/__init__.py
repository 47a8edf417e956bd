"""The nemesis: faults as data (kill, pause, a cut or slow link, a node killed or cut off), each with
the heal that undoes it."""

from harness.nemesis.faults import Fault, NetworkFault
from harness.nemesis.nodes import NodeFault

AnyFault = Fault | NetworkFault | NodeFault
