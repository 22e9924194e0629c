/*
** vk_probe.c -- which physical devices the plugin claims, and probe.
**
** probe and device_open both go through vk_usable_devices, so the index
** the host passes to device_open counts exactly the devices probe listed.
** Probe creates an instance, reads properties and features, and destroys
** the instance: no device is created and no memory allocated.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vk_device.h"

/* The workgroup size of the sort and reduction shaders (shaders/ *.comp). */
#define VK_NEEDED_WG_INVOCATIONS 256

/* PCI vendor ids, and Khronos ids for vendors without one. */
static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x1022: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    case 0x1010: return "Imagination";
    case 0x14E4: return "Broadcom";
    case 0x144D: return "Samsung";
    case 0x10005: return "Mesa";   /* VK_VENDOR_ID_MESA: lavapipe */
    case 0x10002: return "VeriSilicon";
    case 0x10004: return "Codeplay";
    default: return NULL;
    }
}

/* Fill p for device `pd`; NULL when usable, else why not (static). */
static const char *query(const vk_instance *inst, VkPhysicalDevice pd,
                         vk_physical *p)
{
    memset(p, 0, sizeof *p);
    p->handle = pd;
    inst->vkGetPhysicalDeviceProperties(pd, &p->props);
    if (p->props.apiVersion < VK_API_VERSION_1_2)
        return "it supports Vulkan 1.1 at most; the shaders are SPIR-V 1.5 "
               "(Vulkan 1.2)";
    uint32_t api = p->props.apiVersion < inst->api_version ? p->props.apiVersion
                                                           : inst->api_version;

    p->driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    p->subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    p->subgroup.pNext = &p->driver;
    p->maint3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
    p->maint3.pNext = &p->subgroup;
    VkPhysicalDeviceProperties2 props2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
        .pNext = &p->maint3,
    };
    inst->vkGetPhysicalDeviceProperties2(pd, &props2);

    p->f12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    p->f11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
    p->f11.pNext = &p->f12;
    if (api >= VK_API_VERSION_1_3) {
        p->f13.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES;
        p->f12.pNext = &p->f13;
    }
    p->f10.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    p->f10.pNext = &p->f11;
    inst->vkGetPhysicalDeviceFeatures2(pd, &p->f10);
    /* Keep only the plain values: the chain points into this struct, which
    ** is copied around. */
    p->f10.pNext = p->f11.pNext = p->f12.pNext = p->f13.pNext = NULL;
    p->driver.pNext = p->subgroup.pNext = p->maint3.pNext = NULL;

    inst->vkGetPhysicalDeviceMemoryProperties(pd, &p->mem);

    VkQueueFamilyProperties families[32];
    uint32_t n_families = 32;
    inst->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_families, families);
    p->queue_family = UINT32_MAX;
    for (uint32_t i = 0; i < n_families; i++)
        if ((families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && families[i].queueCount > 0) {
            p->queue_family = i;
            break;
        }
    if (p->queue_family == UINT32_MAX)
        return "it has no compute queue";
    if (!p->f11.storageBuffer16BitAccess)
        return "it lacks storageBuffer16BitAccess (16-bit stores of F16/BF16 "
               "tensors)";
    const VkPhysicalDeviceLimits *lim = &p->props.limits;
    if (lim->maxComputeWorkGroupInvocations < VK_NEEDED_WG_INVOCATIONS ||
        lim->maxComputeWorkGroupSize[0] < VK_NEEDED_WG_INVOCATIONS)
        return "its workgroups hold fewer than 256 invocations";

    vk_caps *c = &p->caps;
    const VkSubgroupFeatureFlags sg_ops = p->subgroup.supportedOperations;
    bool sg = (p->subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
              (sg_ops & VK_SUBGROUP_FEATURE_BASIC_BIT);
    c->subgroup_size = sg ? p->subgroup.subgroupSize : 0;
    c->subgroup_arith = sg && (sg_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    c->fp16 = p->f12.shaderFloat16;
    c->int8 = p->f12.shaderInt8;
    c->fp64 = p->f10.features.shaderFloat64;
    c->int64 = p->f10.features.shaderInt64;
    c->storage8 = p->f12.storageBuffer8BitAccess;
    c->storage16 = p->f11.storageBuffer16BitAccess;
    c->int_dot = p->f13.shaderIntegerDotProduct;
    c->max_wg_invocations = lim->maxComputeWorkGroupInvocations;
    memcpy(c->max_wg_count, lim->maxComputeWorkGroupCount, sizeof c->max_wg_count);
    c->max_shared_bytes = lim->maxComputeSharedMemorySize;
    return NULL;
}

slm_status_t vk_usable_devices(const vk_instance *inst, bool log_skipped,
                               vk_physical *out, uint32_t cap, uint32_t *n)
{
    *n = 0;
    VkPhysicalDevice pds[SLM_MAX_DEVICES_PER_PLUGIN];
    uint32_t count = SLM_MAX_DEVICES_PER_PLUGIN;
    VkResult r = inst->vkEnumeratePhysicalDevices(inst->instance, &count, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        /* INITIALIZATION_FAILED is what the loader says when its drivers
        ** find no hardware: no device, not a failure of the plugin. */
        char buf[16];
        vk_log(r == VK_ERROR_INITIALIZATION_FAILED ? SLM_LOG_DEBUG : SLM_LOG_WARN,
               "vulkan: no devices: vkEnumeratePhysicalDevices: %s",
               vk_result_name(r, buf));
        return SLM_OK;
    }
    if (count == 0 && log_skipped) /* the reason slm-probe shows */
        vk_log(SLM_LOG_DEBUG, "vulkan: no devices: vkEnumeratePhysicalDevices "
               "found none");
    for (uint32_t i = 0; i < count && *n < cap; i++) {
        const char *why = query(inst, pds[i], &out[*n]);
        if (!why)
            (*n)++;
        else if (log_skipped)
            vk_log(SLM_LOG_INFO, "vulkan: not using %s: %s",
                   out[*n].props.deviceName, why);
    }
    return SLM_OK;
}

/* ---------------------------------------------------------------- probe */

static uint64_t device_local_bytes(const VkPhysicalDeviceMemoryProperties *m)
{
    uint64_t total = 0;
    for (uint32_t h = 0; h < m->memoryHeapCount; h++)
        if (m->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            total += m->memoryHeaps[h].size;
    return total;
}

/* Append printf-formatted text to buf[cap] at *len, dropping what does not
** fit. */
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0)
        *len = *len + (size_t)k < cap - 1 ? *len + (size_t)k : cap - 1;
}

/* "vulkan=1.3 subgroup=8 arith fp16 int8 fp64 int64 storage8 storage16
** dot shared=32768 wg=1024 heaps=2048M" */
static void features_string(const vk_physical *p, char *buf, size_t cap)
{
    const vk_caps *c = &p->caps;
    size_t len = 0;
    buf[0] = '\0';
    append(buf, cap, &len, "vulkan=%u.%u", VK_API_VERSION_MAJOR(p->props.apiVersion),
           VK_API_VERSION_MINOR(p->props.apiVersion));
    if (c->subgroup_size)
        append(buf, cap, &len, " subgroup=%u", c->subgroup_size);
    static const struct { size_t at; const char *word; } flags[] = {
        {offsetof(vk_caps, subgroup_arith), "subgroup-arith"},
        {offsetof(vk_caps, fp16), "fp16"},         {offsetof(vk_caps, int8), "int8"},
        {offsetof(vk_caps, fp64), "fp64"},         {offsetof(vk_caps, int64), "int64"},
        {offsetof(vk_caps, storage8), "storage8"}, {offsetof(vk_caps, storage16), "storage16"},
        {offsetof(vk_caps, int_dot), "dot"},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (*(const bool *)((const char *)c + flags[i].at))
            append(buf, cap, &len, " %s", flags[i].word);
    append(buf, cap, &len, " shared=%u wg=%u", c->max_shared_bytes,
           c->max_wg_invocations);
    append(buf, cap, &len, " heaps=");
    for (uint32_t h = 0; h < p->mem.memoryHeapCount; h++)
        append(buf, cap, &len, "%s%lluM%s", h ? "," : "",
               (unsigned long long)(p->mem.memoryHeaps[h].size >> 20),
               (p->mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) ? ""
                                                                               : "(host)");
}

static void fill_info(const vk_physical *p, slm_device_info_t *info)
{
    switch (p->props.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info->kind = SLM_DEVICE_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info->kind = SLM_DEVICE_IGPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        info->kind = SLM_DEVICE_CPU;
        info->flags |= SLM_DEVICE_FLAG_EMULATED;
        break;
    default: info->kind = SLM_DEVICE_OTHER; break;
    }
    /* deviceName may be longer than the ABI's name: keep its start. */
    snprintf(info->name, sizeof info->name, "%.127s", p->props.deviceName);
    const char *vendor = vendor_name(p->props.vendorID);
    if (vendor)
        snprintf(info->vendor, sizeof info->vendor, "%s", vendor);
    else
        snprintf(info->vendor, sizeof info->vendor, "0x%04X", p->props.vendorID);
    if (p->driver.driverName[0])
        snprintf(info->driver, sizeof info->driver, "%.31s %.31s",
                 p->driver.driverName, p->driver.driverInfo);
    info->memory_total = device_local_bytes(&p->mem);
    info->ops = vk_ops_op_mask() | vk_matmul_op_mask();
    info->dtypes = SLM_DTYPE_BIT(SLM_DTYPE_F32) | SLM_DTYPE_BIT(SLM_DTYPE_F16) |
                   SLM_DTYPE_BIT(SLM_DTYPE_BF16) | SLM_DTYPE_BIT(SLM_DTYPE_I32) |
                   vk_matmul_dtype_mask();
    features_string(p, info->features, sizeof info->features);
}

slm_status_t vk_probe(slm_device_info_t *infos, uint32_t capacity,
                      uint32_t *n_out)
{
    if (!infos || !n_out)
        return vk_error(SLM_ERR_INVALID_ARG, "probe: no output array");
    *n_out = 0;
    if (capacity == 0)
        return SLM_OK;
    if (infos[0].struct_size < sizeof(slm_device_info_t))
        return vk_error(SLM_ERR_INVALID_ARG,
                        "probe: infos[0].struct_size %u is smaller than the "
                        "%zu bytes of ABI 1.0", (unsigned)infos[0].struct_size,
                        sizeof(slm_device_info_t));
    vk_instance inst;
    slm_status_t st = vk_instance_open(&inst);
    if (st != SLM_OK || !inst.instance)
        return st;
    vk_physical phys[SLM_MAX_DEVICES_PER_PLUGIN];
    uint32_t n = 0;
    st = vk_usable_devices(&inst, true, phys,
                           capacity < SLM_MAX_DEVICES_PER_PLUGIN ? capacity
                                                                 : SLM_MAX_DEVICES_PER_PLUGIN,
                           &n);
    for (uint32_t i = 0; st == SLM_OK && i < n; i++) {
        /* Filled here, then copied over the fields this plugin knows; a
        ** newer host's trailing fields stay as it zeroed them. */
        slm_device_info_t info;
        memset(&info, 0, sizeof info);
        info.struct_size = infos[i].struct_size;
        fill_info(&phys[i], &info);
        memcpy(&infos[i], &info, sizeof info);
    }
    if (st == SLM_OK)
        *n_out = n;
    vk_instance_close(&inst);
    return st;
}
